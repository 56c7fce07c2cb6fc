"""Sparse retrieval: BM25 over song documents with ``bm25s`` as the engine.

``rank_bm25`` (the reference implementation) is the oracle: both use the BM25+ variant
(Lv & Zhai 2011) with the same ``k1``, ``b`` and ``delta`` and the tokenizer of
:mod:`musicgraph.retrieval.text`, so they rank identically (``tests/retrieval/test_sparse.py``
checks it on the real lyrics; ``benchmarks/bench_bm25.py`` measures the speed ratio).

Documents are addressed by row number; the caller keeps the row -> song key mapping stable
(:mod:`musicgraph.retrieval.catalog`), so an index can be rebuilt for a grown catalog and
old rows keep their ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.retrieval.text import tokenize

log = logging.getLogger(__name__)

#: BM25 parameters shared by the engine and the oracle.
K1 = 1.5
B = 0.75
DELTA = 1.0
METHOD = "bm25+"


@dataclass(slots=True)
class SparseHit:
    """One BM25 hit: document row, score and the query terms that the document contains."""

    row: int
    score: float
    terms: list[str]


class SparseIndex:
    """A BM25 index (bm25s) over tokenized documents.

    Args:
        k1, b, delta: BM25+ parameters (defaults match :class:`rank_bm25.BM25Plus`).
    """

    def __init__(self, k1: float = K1, b: float = B, delta: float = DELTA):
        self.k1, self.b, self.delta = k1, b, delta
        self._bm25: Any = None
        self._doc_terms: list[frozenset[str]] = []
        self.num_docs = 0

    @property
    def vocabulary(self) -> dict[str, int]:
        """Token -> id of the indexed vocabulary."""
        self._require()
        return self._bm25.vocab_dict

    # ------------------------------------------------------------------ build
    def build(self, corpus_tokens: Sequence[Sequence[str]], show_progress: bool = False) -> SparseIndex:
        """Index token lists (one per document row)."""
        import bm25s

        if not corpus_tokens:
            raise ValueError("SparseIndex.build: the corpus is empty")
        self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, delta=self.delta, method=METHOD)
        # bm25s rejects fully empty documents poorly: give them a placeholder token that no query has.
        docs = [list(toks) if toks else ["\x00empty"] for toks in corpus_tokens]
        self._bm25.index(docs, show_progress=show_progress)
        self._doc_terms = [frozenset(t) for t in corpus_tokens]
        self.num_docs = len(docs)
        log.debug("BM25 index: %d documents, %d terms", self.num_docs, len(self._bm25.vocab_dict))
        return self

    @classmethod
    def from_texts(cls, texts: Sequence[str], **kw: Any) -> SparseIndex:
        """Build from raw texts with :func:`~musicgraph.retrieval.text.tokenize`."""
        return cls(**kw).build([tokenize(t) for t in texts])

    # ----------------------------------------------------------------- search
    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 scores of every document for ``query_tokens`` (float32, one per row)."""
        self._require()
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in query_tokens if t in vocab]
        if not ids:
            return np.zeros(self.num_docs, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str | Sequence[str], k: int = 10, mask: np.ndarray | None = None) -> list[SparseHit]:
        """Top-``k`` documents for a query (text or tokens); rows with ``mask[row] == False`` are skipped.

        Documents with score 0 (no query term in common) are never returned.

        Args:
            query: free text (tokenized with :func:`~musicgraph.retrieval.text.tokenize`) or its tokens.
            k: the most hits returned.
            mask: one bool per document row; False rows are never returned.

        Returns:
            At most ``k`` hits, best score first, ties by row; each names the query terms its document holds.
        """
        tokens = tokenize(query) if isinstance(query, str) else list(query)
        if k <= 0 or not tokens:
            return []
        scores = self.scores(tokens)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        matched = self._matched(scores, tokens)
        k = min(k, int(np.count_nonzero(matched)))
        if k == 0:
            return []
        cand = np.where(matched, scores, -np.inf)
        top = np.argpartition(-cand, k - 1)[:k]
        top = top[np.lexsort((top, -cand[top]))]
        qset = set(tokens)
        return [SparseHit(int(r), float(scores[r]), sorted(qset & self._doc_terms[r])) for r in top]

    def _matched(self, scores: np.ndarray, tokens: Sequence[str]) -> np.ndarray:
        # BM25+ adds delta * idf to every document for every known query term, so "score > 0"
        # is not "shares a term": compare with that constant floor instead.
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in tokens if t in vocab]
        floor = 0.0
        nonocc = getattr(self._bm25, "nonoccurrence_array", None)
        if ids and nonocc is not None:
            floor = float(np.asarray(nonocc)[ids].sum())
        return scores > floor + 1e-5 * max(1.0, abs(floor))

    def _require(self) -> None:
        if self._bm25 is None:
            raise RuntimeError("SparseIndex: not built or loaded yet")

    # ------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """Write the index under ``directory`` (bm25s files plus the per-row term sets)."""
        self._require()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory))
        with (directory / "doc_terms.json").open("w", encoding="utf-8") as fh:
            json.dump({"params": [self.k1, self.b, self.delta], "terms": [sorted(t) for t in self._doc_terms]}, fh)

    @classmethod
    def load(cls, directory: Path) -> SparseIndex:
        """Read an index written by :meth:`save`."""
        import bm25s

        directory = Path(directory)
        if not (directory / "doc_terms.json").is_file():
            raise FileNotFoundError(f"no BM25 index in {directory} (run `musicgraph index build`)")
        with (directory / "doc_terms.json").open(encoding="utf-8") as fh:
            meta = json.load(fh)
        k1, b, delta = meta["params"]
        out = cls(k1=k1, b=b, delta=delta)
        out._bm25 = bm25s.BM25.load(str(directory))
        out._doc_terms = [frozenset(t) for t in meta["terms"]]
        out.num_docs = len(out._doc_terms)
        return out


def oracle(corpus_tokens: Sequence[Sequence[str]]) -> Any:
    """The reference :class:`rank_bm25.BM25Plus` with the engine's parameters."""
    from rank_bm25 import BM25Plus

    return BM25Plus([list(t) for t in corpus_tokens], k1=K1, b=B, delta=DELTA)


def oracle_top(bm25: Any, query_tokens: Sequence[str], k: int = 10) -> list[tuple[int, float]]:
    """Top-``k`` (row, score) of the oracle among documents sharing a query term, ties broken by row
    (as :meth:`SparseIndex.search`)."""
    scores = np.asarray(bm25.get_scores(list(query_tokens)), dtype=np.float64)
    qset = set(query_tokens)
    matched = np.array([bool(qset.intersection(d)) for d in bm25.doc_freqs], dtype=bool)
    rows = np.flatnonzero(matched)
    order = rows[np.lexsort((rows, -scores[rows]))][:k]
    return [(int(r), float(scores[r])) for r in order]


def same_ranking(hits: Sequence[SparseHit], oracle_scores: np.ndarray, want: Sequence[tuple[int, float]],
                 rtol: float = 1e-5) -> bool:
    """Whether ``hits`` rank like the oracle's ``want``: same length, and at every position the engine's
    document has (by the oracle's own float64 scores) the score the oracle ranks there. Documents
    whose scores tie (or differ below float32 resolution) may swap places; nothing else may.
    """
    if len(hits) != len(want):
        return False
    for hit, (_, score) in zip(hits, want, strict=True):
        if not np.isclose(oracle_scores[hit.row], score, rtol=rtol, atol=1e-9):
            return False
    return True
