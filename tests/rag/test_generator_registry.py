"""The generator registry: every entry imports, names resolve through it, unknown names fail in one line."""

from __future__ import annotations

import importlib

import pytest

from musicgraph.rag import generators
from musicgraph.rag.base import Generator, GeneratorError
from musicgraph.rag.generators import (
    BACKENDS,
    BEST_BACKENDS,
    FAST_BACKENDS,
    GENERATORS,
    clear_cache,
    generator_class,
    load_generator,
)


class EchoGenerator(Generator):
    """A backend defined outside musicgraph, registered by one registry entry."""

    name = "echo"

    def generate(self, request, context, *, strict=False):
        return request


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.mark.parametrize("backend", sorted(GENERATORS))
def test_every_registry_entry_imports_a_generator_of_that_name(backend: str) -> None:
    module, name = GENERATORS[backend].split(":")
    cls = getattr(importlib.import_module(module), name)
    assert generator_class(backend) is cls
    assert issubclass(cls, Generator) and cls.name == backend


def test_the_rankings_name_registered_backends_only() -> None:
    assert BACKENDS == ("template", "seq2seq", "t5-local", "smollm2", "lm")
    assert set(BEST_BACKENDS) <= set(GENERATORS) and set(FAST_BACKENDS) <= set(BEST_BACKENDS)
    # a backend usable without a model but missing from BEST_BACKENDS would never be offered by ``best``
    assert BEST_BACKENDS[-1] == "template" and not generator_class("seq2seq").available()


def test_a_registered_backend_string_resolves_and_is_cached(monkeypatch) -> None:
    monkeypatch.setitem(GENERATORS, "echo", f"{__name__}:EchoGenerator")
    gen = load_generator("echo")
    assert type(gen) is EchoGenerator and gen.generate("sad songs", None) == "sad songs"
    assert load_generator("echo") is gen
    assert load_generator("template") is not gen and load_generator("template").name == "template"


def test_an_unknown_backend_is_one_line_naming_it_and_the_choices() -> None:
    with pytest.raises(GeneratorError) as err:
        load_generator("gpt-17")
    msg = str(err.value)
    assert msg == ("unknown backend 'gpt-17'; expected one of auto, best, fast, "
                   "template, seq2seq, t5-local, smollm2, lm")
    assert "\n" not in msg
    assert not generators._CACHE  # nothing was loaded or cached


def test_a_registry_entry_that_does_not_import_fails_loudly(monkeypatch) -> None:
    monkeypatch.setitem(GENERATORS, "broken", "musicgraph.rag.no_such_module:Nothing")
    with pytest.raises(ModuleNotFoundError):
        load_generator("broken")


def test_missing_models_keep_their_messages(tmp_path) -> None:
    from musicgraph.config import Settings

    settings = Settings(home=tmp_path)
    with pytest.raises(GeneratorError, match=r"^the seq2seq backend needs --model: a local model directory"):
        load_generator("seq2seq", settings=settings)
    with pytest.raises(GeneratorError, match=rf"^no fine-tuned T5 at {tmp_path}.*`musicgraph rag finetune` or pick "
                                             r"--backend template$"):
        load_generator("t5-local", settings=settings)
    with pytest.raises(GeneratorError, match=r"^no trained answer model in .*`musicgraph lm train --task answer`$"):
        load_generator("lm", model=tmp_path / "lm-answer")
    assert not generators._CACHE


def test_auto_and_best_without_trained_models_pick_the_template(tmp_path) -> None:
    from musicgraph.config import Settings
    from musicgraph.rag.generators import default_backend, installed_backends

    settings = Settings(home=tmp_path)
    assert default_backend(settings) == "template"
    assert "t5-local" not in installed_backends(settings) and "lm" not in installed_backends(settings)
    assert load_generator("auto", settings=settings).name == "template"
    assert load_generator("fast", settings=settings).name == "template"
