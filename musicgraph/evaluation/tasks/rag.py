"""Task 5: grounded answers of :func:`musicgraph.rag.ask.ask` (protocol ``rag-grounding`` v1).

Questions: the mood requests of :mod:`~musicgraph.evaluation.tasks.evalsets` (first phrasing per
mood in ``--quick``, all in the full run), the multi-hop questions of
:mod:`~musicgraph.evaluation.tasks.multihop`, and "<mood phrasing> like <artist>" for artists whose
songs carry that mood label (:func:`mood_artist_questions`), filling the full run up to
:data:`MIN_QUESTIONS` (4 of them in ``--quick``). Each is answered with ``k = 5`` over the hybrid
retriever; metrics per question, all checked against the store, not against the generator's own
report:

* ``hallucinated_raw``: 1 when the generated text (before grounding repair) named something the
  evidence does not support (``Answer.grounding.hallucinated``).
* ``hallucinated_final``: 1 when the final text still cites an id that is not a retrieved candidate
  or not a Song of the store.
* ``citation_precision``: cited ids that are retrieved candidates *and* Songs of the store, over
  all cited ids (1 when nothing is cited is not assumed: such answers score 0).
* ``faithfulness``: over cited songs, the share whose stored title and artist both appear in the
  answer text and whose every year in their reason lines equals the stored year.
* ``latency_s``: wall time of ``ask`` (p50 / p95 in the task's extra figures), the generator
  loaded beforehand.

Backends: ``template`` and ``auto`` (the fine-tuned T5 when trained, else the template). Only a
backend whose model is absent or cannot load (:class:`~musicgraph.rag.base.GeneratorError`) is
listed as not run; any other exception fails the task.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import numpy as np

from musicgraph.evaluation.tasks import EvalConfig, SystemResult, TaskResult
from musicgraph.evaluation.tasks import retrieval_common as R

log = logging.getLogger(__name__)

PROTOCOL = "rag-grounding"
PROTOCOL_VERSION = 2
K = 5
#: Questions of the full run at least (filled with :func:`mood_artist_questions`).
MIN_QUESTIONS = 100
_YEAR = re.compile(r"\b(19[0-9]{2}|20[0-9]{2})\b")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def mood_artist_questions(
    store: Any, phrasings: dict[str, list[str]], n: int, seed: int = 7
) -> list[tuple[str, str, str]]:
    """``n`` labelled requests "<mood phrasing> like <artist>" as (text, mood, artist).

    The artist is one with at least one song carrying that mood label in ``store`` (``HAS_MOOD``
    edges of the mood datasets); deterministic for ``seed``; no request is repeated. Fewer come
    back when the store has too few labelled songs.
    """
    import random

    by_mood: dict[str, list[str]] = {}
    songs: dict[str, list[str]] = {}
    for e in store.iter_edges("HAS_MOOD"):
        if e.src.label == "Song":
            songs.setdefault(e.src.key, []).append(str(e.dst.key).lower())
    nodes = store.get_nodes("Song", list(songs)) if songs else {}
    for key in sorted(songs):
        node = nodes.get(key)
        artist = node.props.get("artist") if node is not None else None
        if not artist:
            continue
        for mood in songs[key]:
            names = by_mood.setdefault(mood, [])
            if artist not in names:
                names.append(str(artist))
    moods = sorted(m for m in phrasings if by_mood.get(m) and phrasings[m])
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    capacity = sum(len(by_mood[m]) * len(phrasings[m]) for m in moods)
    while len(out) < min(n, capacity):
        mood = rng.choice(moods)
        artist = rng.choice(by_mood[mood])
        text = f"{rng.choice(phrasings[mood])} like {artist}"
        if text not in seen:
            seen.add(text)
            out.append((text, mood, artist))
    return out


def load_backend(backend: str) -> tuple[Any, str | None]:
    """The generator of ``backend``, or ``(None, reason)`` when its model is absent or cannot load.

    Only :class:`~musicgraph.rag.base.GeneratorError` (the documented "model missing / not loadable")
    counts as an absence, and never for ``template``, which needs no model: every other exception is
    raised, so a broken backend fails the task instead of showing up as "not run".
    """
    from musicgraph.rag.base import GeneratorError
    from musicgraph.rag.generators import load_generator

    try:
        return load_generator(backend), None
    except GeneratorError as exc:
        if backend == "template":
            raise
        return None, f"{type(exc).__name__}: {exc}"


def score_answer(answer: Any, store: Any, candidates: set[str]) -> dict[str, float]:
    """The per-question metrics of one :class:`~musicgraph.rag.ask.Answer` (see the module docstring)."""
    cited = list(dict.fromkeys(answer.cited_ids))
    nodes = store.get_nodes("Song", cited) if cited else {}
    ok = [c for c in cited if c in candidates and c in nodes]
    text = _norm(answer.text)
    faithful = []
    reasons = {r.result.id: " ".join(r.reasons) for r in answer.recommendations}
    for c in ok:
        props = nodes[c].props
        title, artist = _norm(str(props.get("title", ""))), _norm(str(props.get("artist", "")))
        named = bool(title) and title in text and (not artist or artist in text)
        years = _YEAR.findall(reasons.get(c, ""))
        year_ok = all(str(props.get("year")) == y for y in years) if years else True
        faithful.append(named and year_ok)
    return {
        "hallucinated_raw": float(bool(answer.grounding is not None and answer.grounding.hallucinated)),
        "hallucinated_final": float(len(ok) < len(cited)),
        "citation_precision": len(ok) / len(cited) if cited else 0.0,
        "faithfulness": float(np.mean(faithful)) if faithful else 0.0,
    }


def run(cfg: EvalConfig) -> TaskResult:
    """Run task 5 (see the module docstring)."""
    t0 = time.perf_counter()
    result = TaskResult(task="rag", protocol={"name": PROTOCOL, "version": PROTOCOL_VERSION},
                        main_metrics=["citation_precision", "faithfulness", "hallucinated_raw", "latency_s"])
    try:
        from musicgraph.rag.ask import ask
    except ImportError as exc:
        result.missing["*"] = f"musicgraph.rag.ask is not importable: {exc}"
        return result
    store = cfg.open_store()
    if store is None:
        result.missing["*"] = f"no ingested store at {cfg.store_dir} (run `musicgraph ingest`)"
        return result
    try:
        from musicgraph.retrieval.index import IndexBundle

        bundle, _ = R.ensure_dense(IndexBundle.load(R.default_index_dir(cfg)))
    except (FileNotFoundError, TypeError) as exc:
        result.missing["*"] = f"no retrieval index ({exc}); run `musicgraph index build`"
        store.close()
        return result
    from musicgraph.evaluation.tasks.evalsets import MOOD_QUERIES, SITUATION_QUERIES
    from musicgraph.evaluation.tasks.multihop import GraphFacts, generate
    from musicgraph.retrieval.retriever import HybridRetriever

    hr = HybridRetriever(store, bundle=bundle, data_dir=cfg.data_dir, encoder=cfg.encoder)
    per = 1 if cfg.quick else None
    questions = [t for table in (MOOD_QUERIES, SITUATION_QUERIES) for texts in table.values() for t in texts[:per]]
    facts = GraphFacts.from_store(store, songs=set(bundle.catalog.keys))
    questions += [q.text for q in generate(facts, 2 if cfg.quick else 10)]
    extra = 4 if cfg.quick else max(0, MIN_QUESTIONS - len(questions))
    questions += [t for t, _, _ in mood_artist_questions(store, MOOD_QUERIES, extra)]
    last: dict[str, list[str]] = {}

    from musicgraph.retrieval.base import Retriever

    class Recording(Retriever):
        """The hybrid retriever, remembering which ids it returned per request text."""

        name = "hybrid"

        def parse(self, text: str) -> Any:
            return hr.parse(text)

        def get_search_results(self, request: Any) -> list[Any]:
            res = hr.search(request)
            last.setdefault(request.text or "", []).extend(r.id for r in res)
            return res

    retriever = Recording()

    backends: dict[str, list[dict[str, float]]] = {}
    used: dict[str, set[str]] = {}
    for backend in ("template", "auto"):
        gen, why = load_backend(backend)
        if gen is None:  # a documented absence: the backend's model is not there or cannot load
            result.missing[f"rag-{backend}"] = str(why)
            continue
        rows = []
        for q in questions:
            start = time.perf_counter()
            ans = ask(q, k=K, generator=gen, retriever=retriever, store=store)  # any failure here is a bug: raised
            elapsed = time.perf_counter() - start
            cands = {r.result.id for r in ans.recommendations} | {i for v in last.values() for i in v}
            if ans.evidence is not None:
                cands |= {c.result.id for c in getattr(ans.evidence, "candidates", [])}
            row = score_answer(ans, store, cands)
            row["latency_s"] = elapsed
            rows.append(row)
            used.setdefault(backend, set()).add(ans.backend)
            last.clear()
        if rows:
            backends[backend] = rows
    for backend, rows in backends.items():
        name = f"rag-{backend}" if backend == "template" or used.get(backend) != {"template"} else "rag-auto(template)"
        per_query = {m: np.array([r[m] for r in rows]) for m in rows[0]}
        sr = SystemResult(name, per_query, {m: [float(v.mean())] for m, v in per_query.items()}, [0],
                          {"backend": backend, "generators_used": sorted(used.get(backend, ())), "k": K})
        lat = per_query["latency_s"]
        sr.extra = {"latency_p50_s": float(np.percentile(lat, 50)), "latency_p95_s": float(np.percentile(lat, 95))}
        result.systems[name] = sr.finalize(cfg.boot_seed, cfg.n_boot)
    result.protocol.update({
        "questions": len(questions),
        "k": K,
        "retriever": "HybridRetriever over the committed index (all components)",
        "checks": "citations and facts checked against the store (title, artist, year), not the generator's report",
        "bootstrap": {"n": cfg.n_boot, "seed": cfg.boot_seed, "alpha": 0.05, "unit": "question"},
        "quick": cfg.quick,
    })
    store.close()
    result.seconds = time.perf_counter() - t0
    return result
