"""What the retrieval tasks (mood queries, multi-hop questions) share: systems, switches, scoring.

Systems are the hybrid retriever of :mod:`musicgraph.retrieval.retriever` with component switches:

* single components: ``bm25``, ``dense``, ``graph`` (personalized PageRank from the linked seeds),
  ``emotion`` and ``audio`` (ranking by fit to the parsed mood / features only);
* ``hybrid``: everything on (RRF fusion, emotion and audio rerank, artist cap, MMR);
* ablations ``hybrid-no-<component>``: the hybrid with one component switched off.

Classic baselines that need no request understanding (``random`` over the judged pool, ``mostpop``
by Spotify popularity) are added by the tasks themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

COMPONENTS: tuple[str, ...] = ("bm25", "dense", "graph", "emotion", "audio")


def flags(on: Sequence[str]) -> dict[str, bool]:
    """``use_<component>`` keyword switches with exactly ``on`` enabled."""
    return {f"use_{c}": c in on for c in COMPONENTS}


def systems(available: Sequence[str], single: Sequence[str] = COMPONENTS) -> dict[str, dict[str, bool]]:
    """System name -> switches: single components, the hybrid, and one ablation per component.

    ``available`` are the components that can run (dense is absent when its index is); the hybrid
    and its ablations only use those.
    """
    out: dict[str, dict[str, bool]] = {}
    for c in single:
        if c in available:
            out[c] = flags([c])
    out["hybrid"] = flags(available)
    for c in available:
        out[f"hybrid-no-{c}"] = flags([x for x in available if x != c])
    return out


def default_index_dir(cfg: Any) -> Path | None:
    """The retrieval index of ``cfg`` (``cfg.index_dir``, else beside the store's home)."""
    if getattr(cfg, "index_dir", None):
        return Path(cfg.index_dir)
    if cfg.store_dir is None:
        return None
    store_dir = Path(cfg.store_dir)
    # MUSICGRAPH_HOME/stores/<name> -> MUSICGRAPH_HOME/indexes/<name>
    if store_dir.parent.name == "stores":
        return store_dir.parent.parent / "indexes" / store_dir.name
    from musicgraph.retrieval.index import default_index_dir as _d

    return _d()


def cache_dir(cfg: Any) -> Path | None:
    """Where expensive intermediate results (re-encoded dense vectors) are kept between runs."""
    if getattr(cfg, "cache_dir", None):
        return Path(cfg.cache_dir)
    from musicgraph.config import get_settings

    return Path(get_settings().home) / "cache" / "eval"


def binary_metrics(ranked_rel: list[list[bool]], n_rel: Sequence[int], k: int) -> dict[str, np.ndarray]:
    """Precision@k, NDCG@k, Hit@k, MAP@k and MRR@k from per-query relevance flags of ranked lists."""
    from musicgraph.evaluation import metrics as M

    hits = np.zeros((len(ranked_rel), k))
    for i, row in enumerate(ranked_rel):
        row = row[:k]
        hits[i, : len(row)] = np.asarray(row, dtype=np.float64)
    n = np.asarray(n_rel, dtype=np.float64)
    return {
        f"precision@{k}": M.precision_at_k(hits, n, k),
        f"ndcg@{k}": M.ndcg_at_k(hits, n, k),
        f"hit@{k}": M.hit_at_k(hits, n, k),
        f"map@{k}": M.map_at_k(hits, n, k),
        f"mrr@{k}": M.mrr_at_k(hits, n, k),
    }


def ensure_dense(bundle: Any) -> tuple[Any, str | None]:
    """``bundle`` with a dense index: rebuilt from ``dense.vectors.npy`` when ``dense.faiss`` is gone.

    Catalog rows are stable across index rebuilds, so saved vectors with one row per catalog row are
    still valid after a ``--no-dense`` rebuild. Returns the bundle and a note (None when unchanged).
    """
    if bundle.dense is not None:
        return bundle, None
    vec_path = Path(bundle.directory) / "dense.vectors.npy"
    if not vec_path.is_file():
        return bundle, None
    vecs = np.load(vec_path)
    if vecs.shape[0] != len(bundle.catalog):
        return bundle, f"{vec_path} has {vecs.shape[0]} rows, the catalog {len(bundle.catalog)}: not used"
    from musicgraph.retrieval.dense import DenseIndex

    bundle.dense = DenseIndex(kind="flat").build(vecs.astype(np.float32))
    return bundle, f"dense index rebuilt (flat) from {vec_path} ({vecs.shape[0]} rows)"


def open_store_and_index(cfg: Any, result: Any) -> tuple[Any, Any] | None:
    """The ingested store and its retrieval index bundle (dense restored by :func:`ensure_dense`).

    Records why in ``result.missing["*"]`` and returns None when either is missing (the store is
    closed again then); otherwise the caller closes the store.
    """
    store = cfg.open_store()
    if store is None:
        result.missing["*"] = f"no ingested store at {cfg.store_dir} (run `musicgraph ingest`)"
        return None
    try:
        from musicgraph.retrieval.index import IndexBundle

        bundle = IndexBundle.load(default_index_dir(cfg))
    except (FileNotFoundError, TypeError) as exc:
        result.missing["*"] = f"no retrieval index ({exc}); run `musicgraph index build`"
        store.close()
        return None
    bundle, note = ensure_dense(bundle)
    if note:
        result.notes.append(note)
    return store, bundle
