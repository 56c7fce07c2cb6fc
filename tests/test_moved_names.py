"""Renamed public names stay importable, with a DeprecationWarning, and are the new objects."""

from __future__ import annotations

import importlib

import pytest

MOVED = [
    ("musicgraph.rag", "Catalog", "musicgraph.rag.mentions", "NameIndex"),
    ("musicgraph.rag.grounding", "Catalog", "musicgraph.rag.mentions", "NameIndex"),
    ("musicgraph.rag.grounding", "evidence_artists", "musicgraph.rag.mentions", "evidence_artists"),
    ("musicgraph.graph.results", "Path", "musicgraph.graph.results", "ExplanationPath"),
    ("musicgraph.rag.base", "BACKENDS", "musicgraph.rag.generators", "BACKENDS"),
    ("musicgraph.rag.base", "FAST_BACKENDS", "musicgraph.rag.generators", "FAST_BACKENDS"),
    ("musicgraph.rag.base", "load_generator", "musicgraph.rag.generators", "load_generator"),
    ("musicgraph.rag.base", "default_backend", "musicgraph.rag.generators", "default_backend"),
    ("musicgraph.rag.base", "installed_backends", "musicgraph.rag.generators", "installed_backends"),
    ("musicgraph.rag.base", "clear_cache", "musicgraph.rag.generators", "clear_cache"),
    ("musicgraph.rag.base", "smollm2_gguf", "musicgraph.rag.causal", "smollm2_gguf"),
    ("musicgraph.rag.base", "t5_local_dir", "musicgraph.rag.t5_local", "t5_local_dir"),
    ("musicgraph.rag.base", "t5_local_available", "musicgraph.rag.t5_local", "t5_local_available"),
    ("musicgraph.rag.base", "lm_available", "musicgraph.lm.answer", "lm_available"),
    ("musicgraph.retrieval.dense", "Encoder", "musicgraph.retrieval.encoder", "Encoder"),
    ("musicgraph.retrieval.dense", "HashingEncoder", "musicgraph.retrieval.encoder", "HashingEncoder"),
    ("musicgraph.retrieval.dense", "textualize", "musicgraph.retrieval.textualize", "textualize"),
    ("musicgraph.retrieval.dense", "lyric_summary", "musicgraph.retrieval.textualize", "lyric_summary"),
    ("musicgraph.retrieval.dense", "ThreadLimit", "musicgraph.retrieval.threads", "ThreadLimit"),
    ("musicgraph.retrieval.dense", "TORCH_THREADS", "musicgraph.retrieval.threads", "TORCH_THREADS"),
]


@pytest.mark.parametrize(("old_mod", "old", "new_mod", "new"), MOVED)
def test_old_name_warns_and_is_the_new_object(old_mod: str, old: str, new_mod: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=new):
        obj = getattr(importlib.import_module(old_mod), old)
    assert obj is getattr(importlib.import_module(new_mod), new)


def test_unknown_names_still_raise() -> None:
    with pytest.raises(AttributeError):
        importlib.import_module("musicgraph.rag.grounding").NoSuchThing  # noqa: B018
    with pytest.raises(AttributeError):
        importlib.import_module("musicgraph.retrieval.dense").NoSuchThing  # noqa: B018
    with pytest.raises(AttributeError):
        importlib.import_module("musicgraph.rag.base").NoSuchThing  # noqa: B018
