"""``ask``: retrieve → evidence block → generate → ground → explain.

>>> from musicgraph.rag import ask                                   # doctest: +SKIP
>>> answer = ask("melancholic songs for a rainy night, like Radiohead", k=5, backend="template")
>>> print(answer.text); answer.cited_ids

The retriever is injected (``retriever=``, a callable ``(query, k) -> list[Result]`` that may also
accept ``filters=``); by default it is :func:`musicgraph.retrieval.retriever.retrieve`, or, where
that module is absent, a multi-hop retriever over the graph (:func:`graph_retriever`).
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.graph.results import Result
from musicgraph.rag.base import Generator, load_generator
from musicgraph.rag.context import CandidateEvidence, Context, build_context
from musicgraph.rag.explain import reason_chain, requested_moods
from musicgraph.rag.grounding import Catalog, GroundingReport, evidence_artists, fold, ground, norm_artist
from musicgraph.rag.template import template_answer

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.chat import ChatState

log = logging.getLogger(__name__)

Retriever = Callable[..., list[Result]]

#: Results fetched per requested recommendation, to leave room for exclusions and re-ranking.
OVERFETCH = 4


@dataclass(slots=True)
class Recommendation:
    """One cited recommendation: the candidate, its evidence and its reasons."""

    number: int
    result: Result
    evidence: CandidateEvidence
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, **self.result.to_dict(), "reasons": list(self.reasons)}


@dataclass(slots=True)
class Answer:
    """A grounded answer.

    Attributes:
        question: the user's words; ``query``: the retrieval query after chat refinement.
        text: the final (grounded) answer text.
        recommendations: the cited candidates, in the order the text names them.
        cited_ids: their ids.
        evidence: the context block the generator saw.
        backend: the generator used (``"template"`` when it fell back, see ``fallback``).
        timings: seconds per stage (retrieve, context, generate, ground, total).
        grounding: the grounding report of the generated text (before any fallback).
        regenerated / fallback: whether grounding asked for a second generation, and whether the
            template answer replaced the model's because it cited nothing.
        notes: remarks shown before the answer (e.g. names not in the catalog).
    """

    question: str
    text: str
    recommendations: list[Recommendation] = field(default_factory=list)
    cited_ids: list[str] = field(default_factory=list)
    evidence: Context | None = None
    backend: str = "template"
    timings: dict[str, float] = field(default_factory=dict)
    grounding: GroundingReport | None = None
    regenerated: bool = False
    fallback: bool = False
    notes: list[str] = field(default_factory=list)
    query: str = ""
    filters: dict[str, Any] = field(default_factory=dict)

    def mean_features(self) -> dict[str, float]:
        """Average audio features of the recommendations (anchor of chat refinements)."""
        sums: dict[str, list[float]] = {}
        for rec in self.recommendations:
            for name, value in rec.evidence.features.items():
                sums.setdefault(name, []).append(value)
        return {name: sum(v) / len(v) for name, v in sums.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "text": self.text,
            "backend": self.backend,
            "cited_ids": list(self.cited_ids),
            "recommendations": [r.to_dict() for r in self.recommendations],
            "evidence": self.evidence.text if self.evidence else "",
            "timings": dict(self.timings),
            "hallucinated_before_grounding": bool(self.grounding and self.grounding.hallucinated),
            "removed": list(self.grounding.removed) if self.grounding else [],
            "regenerated": self.regenerated,
            "fallback": self.fallback,
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------- retrievers
#: Request words that are also tag names but say nothing about the music ("songs", "night", ...).
_GENERIC = frozenset(
    "a an the and or for to of in on with like some me my i want need play songs song music tracks track "
    "something anything night day tonight please more less no not by from similar sounds".split()
)


def graph_retriever(store: GraphStore, user: str | None = None) -> Retriever:
    """A retriever from the multi-hop recommender: seeds are the catalog artists, moods, tags and
    genres the query names (personalized PageRank from them, with explanation paths), and ``user``
    (a user key such as a personal profile ``me:alice``) when given."""
    from musicgraph.graph.multihop import UnknownEntityError, recommend

    catalog = Catalog.from_store(store)
    moods = {fold(n.name) for n in store.iter_nodes("Mood")}
    tags = {fold(n.name) for n in store.iter_nodes("Tag")} | {fold(n.name) for n in store.iter_nodes("Genre")}

    def retrieve(query: str, k: int = 10, **_: Any) -> list[Result]:
        artists = evidence_artists([], query, catalog)
        words = [w for w in fold(query).split() if w not in _GENERIC]
        found_moods = [w for w in words if w in moods]
        found_moods += [m for m in requested_moods(query) if m in moods and m not in found_moods]
        found_tags = []
        for n in (3, 2, 1):
            for i in range(len(words) - n + 1):
                phrase = " ".join(words[i : i + n])
                if phrase in tags and phrase not in found_moods and not any(phrase in t for t in found_tags):
                    found_tags.append(phrase)
        artist_names = []
        for name in artists:
            entries = catalog.find_artist(name)
            if entries:
                artist_names.append(entries[0].display)
        if not (artist_names or found_moods or found_tags or user):
            return []
        try:
            return recommend(store, user=user, artists=artist_names, moods=found_moods, tags=found_tags[:4], k=k)
        except UnknownEntityError as exc:
            log.info("graph retriever: %s", exc)
            return []

    return retrieve


def default_retriever(store: GraphStore | None = None, user: str | None = None) -> Retriever:
    """Hybrid retrieval (:func:`musicgraph.retrieval.retriever.retrieve`) when installed and its
    indexes are built; otherwise (module absent, or ``FileNotFoundError`` for missing indexes) the
    multi-hop graph retriever :func:`graph_retriever`, so ``ask`` works on a fresh ingest. ``user``
    personalizes both (known songs left out, the user's listening seeds the graph walk)."""
    hybrid: Retriever | None = None
    try:
        from musicgraph.retrieval.retriever import retrieve  # type: ignore[import-not-found]

        extra: dict[str, Any] = {"user": user} if user is not None else {}
        hybrid = functools.partial(retrieve, store=store, **extra) if store is not None else functools.partial(retrieve, **extra)
    except ModuleNotFoundError as exc:
        if exc.name != "musicgraph.retrieval.retriever":
            raise
    fallback: list[Retriever] = []

    def graph_fallback() -> Retriever:
        if not fallback:
            st = store
            if st is None:
                from musicgraph.graph import open_store

                st = open_store()
            if st.is_empty():
                raise RuntimeError("the graph store is empty: run `musicgraph ingest` first")
            fallback.append(graph_retriever(st, user))
        return fallback[0]

    def retrieve_any(query: str, k: int = 10, filters: Mapping[str, Any] | None = None) -> list[Result]:
        nonlocal hybrid
        if hybrid is not None:
            try:
                return list(hybrid(query, k, filters=filters) if filters else hybrid(query, k))
            except FileNotFoundError as exc:
                log.warning("%s; using the multi-hop graph retriever", exc)
                hybrid = None
        return graph_fallback()(query, k)

    return retrieve_any


def _call_retriever(retriever: Retriever, query: str, n: int, filters: Mapping[str, Any]) -> list[Result]:
    try:
        params = inspect.signature(retriever).parameters
    except (TypeError, ValueError):
        params = {}
    accepts = "filters" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if filters and accepts:
        try:
            return list(retriever(query, n, filters=dict(filters)))
        except (TypeError, ValueError) as exc:  # filters unknown to it, or leaving nothing
            log.info("retriever rejected filters %s (%s); re-ranking locally instead", filters, exc)
    try:
        return list(retriever(query, n))
    except ValueError as exc:  # e.g. the exclusions leave nothing
        log.info("retrieval found nothing for %r: %s", query, exc)
        return []


def _features_of(res: Result, store: GraphStore | None, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if res.props:
        return res.props
    if store is not None and res.kind == "song" and res.id not in cache:
        node = store.get_node("Song", res.id)
        cache[res.id] = node.props if node else {}
    return cache.get(res.id, {})


def refine_results(
    results: Sequence[Result],
    k: int,
    *,
    exclude_artists: Sequence[str] = (),
    exclude_ids: Sequence[str] = (),
    feature_targets: Mapping[str, float] | None = None,
    store: GraphStore | None = None,
) -> list[Result]:
    """Apply chat constraints locally: drop excluded artists/ids, re-rank toward feature targets
    (retrieval rank and feature distance, equally weighted), keep ``k`` and renumber ranks."""
    banned = {norm_artist(a) for a in exclude_artists}
    kept = [
        r for r in results
        if r.id not in set(exclude_ids)
        and norm_artist(r.artist or (r.name if r.kind == "artist" else "")) not in banned
    ]  # fmt: skip
    if feature_targets:
        cache: dict[str, dict[str, Any]] = {}
        n = max(1, len(kept))

        def cost(item: tuple[int, Result]) -> float:
            i, r = item
            props = _features_of(r, store, cache)
            dist = []
            for feat, want in feature_targets.items():
                have = props.get(feat)
                if isinstance(have, (int, float)):
                    scale = 100.0 if feat == "tempo" else 1.0
                    dist.append(min(1.0, abs(float(have) - want) / scale))
            d = sum(dist) / len(dist) if dist else 0.6
            return 0.5 * i / n + d

        kept = [r for _, r in sorted(enumerate(kept), key=cost)]
    out = []
    for rank, r in enumerate(kept[:k], start=1):
        r.rank = rank
        out.append(r)
    return out


# --------------------------------------------------------------------------------- ask
_NAMED = re.compile(
    r"\b(?:like|by|from|similar to|sounds like)\s+((?:[A-Z0-9][\w'&.!-]*)(?:\s+(?:[A-Z0-9&][\w'&.!-]*|of|the|and))*)"
)


def unknown_names(question: str, catalog: Catalog | None) -> list[str]:
    """Capitalised names after ``like``/``by``/``from`` that the catalog does not know."""
    if catalog is None:
        return []
    out = []
    for m in _NAMED.finditer(question):
        words = m.group(1).strip(" .,!?").split()
        while words and words[-1].lower() in {"and", "of", "the"}:
            words.pop()
        name = " ".join(words)
        known = any(
            catalog.find_artist(" ".join(words[:n])) or catalog.find_title(" ".join(words[:n]))
            for n in range(len(words), 0, -1)
        )
        if not known:
            out.append(name)
    return out


def _explain_answer(question: str, state: ChatState, number: int, t0: float) -> Answer:
    last = state.last
    assert last is not None
    if not 1 <= number <= len(last.recommendations):
        text = f"There is no recommendation #{number}; the last answer has {len(last.recommendations)}."
        return Answer(question=question, text=text, backend="explain", query=last.query)
    rec = last.recommendations[number - 1]
    lines = [f"Why #{number}, {rec.result.display()}:"] + [f"- {r}" for r in rec.reasons]
    return Answer(
        question=question,
        text="\n".join(lines),
        recommendations=[rec],
        cited_ids=[rec.result.id],
        evidence=last.evidence,
        backend="explain",
        timings={"total": time.perf_counter() - t0},
        query=last.query,
    )


def ask(
    question: str,
    k: int = 5,
    backend: str = "auto",
    history: ChatState | None = None,
    *,
    retriever: Retriever | None = None,
    store: GraphStore | None = None,
    generator: Generator | None = None,
    model: str | None = None,
    catalog: Catalog | None = None,
    filters: Mapping[str, Any] | None = None,
    regenerate: bool = True,
    user: str | None = None,
) -> Answer:
    """Answer ``question`` with grounded, cited recommendations.

    Args:
        question: the request in words.
        k: number of recommendations (1..50).
        backend: ``auto`` (own T5 when trained, else template), ``best``, ``template``, ``seq2seq``,
            ``t5-local`` or ``smollm2``; ignored when ``generator`` is given.
        history: a :class:`~musicgraph.rag.chat.ChatState`; the question is read as a follow-up
            ("more upbeat", "no Radiohead", "more like the second one", "why that one?") and the
            state is updated with the answer.
        retriever: ``(query, k[, filters=]) -> list[Result]``; default :func:`default_retriever`.
        store: graph store for evidence details and the catalog (default: none unless the default
            retriever needs one).
        generator: a ready generator (tests, benchmarks); ``model``: model id/dir for ``seq2seq``.
        catalog: name index for grounding (default: from ``store``, else the candidates only).
        filters: extra retriever filters.
        regenerate: on unsupported mentions, generate once more in strict mode before removing them.
        user: personalize for this user key (``me:alice`` after ``musicgraph me import``; ignored when
            ``retriever`` is given).

    Raises:
        ValueError: empty question or ``k`` out of range.
        GeneratorError: the backend cannot be loaded.
    """
    t0 = time.perf_counter()
    if not question or not question.strip():
        raise ValueError("the question is empty: ask for something, e.g. 'calm acoustic songs like Nick Drake'")
    if not 1 <= k <= 50:
        raise ValueError(f"k must be between 1 and 50, got {k}")
    question = question.strip()
    timings: dict[str, float] = {}
    query, sent = question, dict(filters or {})
    constraints: dict[str, Any] = {}
    if "exclude_artists" in sent:
        constraints["exclude_artists"] = list(sent.pop("exclude_artists"))
    if "feature_targets" in sent:
        constraints["feature_targets"] = dict(sent.pop("feature_targets"))
    if history is not None:
        turn = history.interpret(question)
        if turn.intent == "explain" and turn.explain is not None:
            return _explain_answer(question, history, turn.explain, t0)
        query = turn.query
        constraints.update(history.constraints())
        sent.update(history.retrieval_filters())
    if catalog is None and store is not None:
        catalog = Catalog.from_store(store)

    # 1. retrieve (over-fetch, then apply exclusions and feature targets locally)
    t = time.perf_counter()
    if retriever is None:
        retriever = default_retriever(store) if user is None else default_retriever(store, user=user)
    exclude_ids = []
    if history is not None and history.seed and history.last is not None:
        exclude_ids = [r.result.id for r in history.last.recommendations if r.result.display() == history.seed]
    raw = _call_retriever(retriever, query, max(k * OVERFETCH, k + 10), sent)
    results = refine_results(
        raw,
        k,
        exclude_artists=constraints.get("exclude_artists", ()),
        exclude_ids=exclude_ids,
        feature_targets=constraints.get("feature_targets"),
        store=store,
    )
    timings["retrieve"] = time.perf_counter() - t

    notes = [f'"{name}" is not in the catalog, so I cannot use it.' for name in unknown_names(question, catalog)]
    gen = generator or load_generator(backend, model)
    if not results:
        text = "I found nothing in the catalog that matches this request, so I recommend nothing rather than guess."
        answer = Answer(question=question, text="\n".join([*notes, text]), backend=gen.name, notes=notes,
                        query=query, filters={**sent, **constraints}, timings={**timings, "total": time.perf_counter() - t0})
        return answer

    # 2. evidence block within the model's budget
    t = time.perf_counter()
    ctx = build_context(
        results, store=store, budget=gen.context_budget(query), count_tokens=gen.count_tokens, query=query
    )
    included = [c.result for c in ctx.candidates]
    timings["context"] = time.perf_counter() - t

    # 3. generate, 4. ground (regenerate once in strict mode, then remove what is unsupported)
    t = time.perf_counter()
    text = gen.generate(query, ctx)
    timings["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    allowed = evidence_artists(included, query, catalog)
    report = ground(text, included, catalog, allowed, [query, question])
    regenerated = fallback = False
    final = report
    if report.hallucinated and regenerate and gen.name != "template":
        t2 = time.perf_counter()
        retry_text = gen.generate(query, ctx, strict=True)
        t3 = time.perf_counter()
        timings["generate"] += t3 - t2
        retry = ground(retry_text, included, catalog, allowed, [query, question])
        t -= t3 - t2  # the ground timer excludes the second generation
        regenerated = True
        if len(retry.cited_ids) >= len(report.cited_ids):
            final = retry
    backend_used = gen.name
    if not final.cited_ids:
        final = ground(template_answer(query, ctx), included, catalog, allowed, [query, question])
        fallback, backend_used = True, f"{gen.name}→template"
    timings["ground"] = time.perf_counter() - t

    by_id = ctx.by_id()
    recs = [
        Recommendation(n, by_id[cid].result, by_id[cid], reason_chain(by_id[cid], query, constraints.get("feature_targets")))
        for n, cid in enumerate(final.cited_ids, start=1)
    ]
    if ctx.dropped:
        log.info("%d lower-ranked candidates did not fit the context budget", len(ctx.dropped))
    timings["total"] = time.perf_counter() - t0
    answer = Answer(
        question=question,
        text="\n".join([*notes, final.text]),
        recommendations=recs,
        cited_ids=list(final.cited_ids),
        evidence=ctx,
        backend=backend_used,
        timings=timings,
        grounding=report,
        regenerated=regenerated,
        fallback=fallback,
        notes=notes,
        query=query,
        filters={**sent, **constraints},
    )
    if history is not None:
        history.remember(answer)
    return answer
