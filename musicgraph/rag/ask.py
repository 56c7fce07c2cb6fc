"""``ask``: retrieve → evidence block → generate → ground → explain.

>>> from musicgraph.rag import ask                                   # doctest: +SKIP
>>> answer = ask("melancholic songs for a rainy night, like Radiohead", k=5, backend="template")
>>> print(answer.text); answer.cited_ids

The retriever is injected (``retriever=``, any :class:`~musicgraph.retrieval.base.Retriever`); by
default it is the store's hybrid retriever, or the graph retriever before the text indexes are
built (:func:`default_retriever`). The question is parsed by the retriever into a request; chat
exclusions and ``filters`` become its constraints.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.errors import EmptyStoreError, UnknownEntityError
from musicgraph.graph.results import Result
from musicgraph.rag.base import Generator
from musicgraph.rag.context import CandidateEvidence, Context, build_context
from musicgraph.rag.explain import reason_chain
from musicgraph.rag.generators import load_generator
from musicgraph.rag.grounding import GroundingReport, ground
from musicgraph.rag.mentions import NameIndex, evidence_artists, norm_artist
from musicgraph.rag.template import template_answer
from musicgraph.retrieval.base import Retriever

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.chat import ChatState

log = logging.getLogger(__name__)


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
        """The recommendation as JSON: its number, the result's fields and the reasons."""
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
        """The answer as JSON: text, recommendations, evidence, timings and what grounding removed."""
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
def default_retriever(store: GraphStore | None = None) -> Retriever:
    """The hybrid retriever of the store when its indexes are built, else the graph retriever
    (so ``ask`` works on a fresh ingest, before ``musicgraph index build``)."""
    from musicgraph.graph import open_store
    from musicgraph.retrieval import retriever_by_name

    st = store if store is not None else open_store()
    if st.is_empty():
        raise EmptyStoreError("the graph store is empty: run `musicgraph ingest` first")
    try:
        return retriever_by_name("hybrid", st)
    except FileNotFoundError as exc:
        log.warning("%s; using the graph retriever", exc)
        return retriever_by_name("graph", st)


def _retrieve(retriever: Retriever, query: str, n: int, filters: Mapping[str, Any],
              exclude_artists: Sequence[str], user: str | None = None) -> list[Result]:
    """Ask ``retriever`` for ``n`` results: the parsed query, with the filters as constraints (and
    ``user`` as a ``listened_by`` seed: personalized, the user's known items left out)."""
    from musicgraph.retrieval.filters import to_constraints

    req = retriever.parse(query)
    constraints = req.constraints.model_dump()
    extra = to_constraints(filters)
    for name, value in extra.items():
        if name == "features":
            constraints["features"] = {**constraints["features"], **value}
        elif isinstance(value, list):
            constraints[name] = [*constraints.get(name, []), *value]
        else:
            constraints[name] = value
    known = {(e["label"], e["name"].lower()) for e in constraints["exclude"]}
    constraints["exclude"] += [{"label": "Artist", "name": a} for a in exclude_artists
                               if ("Artist", a.lower()) not in known]
    req = req.with_(k=min(n, 1000), constraints=constraints)
    if user is not None:
        from musicgraph.graph.resolve import user_key

        seeds = [*req.model_dump()["seeds"], {"label": "User", "name": user, "key": user_key(user),
                                               "relation": "listened_by"}]
        req = req.with_(seeds=seeds)
    try:
        return list(retriever.search(req))
    except UnknownEntityError as exc:  # an exclusion the catalog does not know: nothing to leave out
        log.info("retrieval for %r: %s; asked without the unknown exclusions", query, exc)
        constraints["exclude"] = [e for e in constraints["exclude"] if e["name"] != exc.name]
        return list(retriever.search(req.with_(constraints=constraints)))


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
    (retrieval rank and feature distance, equally weighted), keep ``k`` and renumber ranks.

    Args:
        results: the retrieved results, best first.
        k: how many to keep.
        exclude_artists: artist names to drop (compared folded, without a leading "the").
        exclude_ids: result ids to drop (songs already recommended in the conversation).
        feature_targets: audio feature -> wanted value on its own scale (0..1, tempo in BPM).
        store: where features missing from a result's properties are read (optional).
    """
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


def unknown_names(question: str, catalog: NameIndex | None) -> list[str]:
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
    catalog: NameIndex | None = None,
    filters: Mapping[str, Any] | None = None,
    regenerate: bool = True,
    user: str | None = None,
) -> Answer:
    """Answer ``question`` with grounded, cited recommendations.

    Args:
        question: the request in words.
        k: number of recommendations (1..50).
        backend: ``auto`` (own T5 when trained, else template), ``best``, ``template``, ``seq2seq``,
            ``t5-local``, ``smollm2`` or ``lm``; ignored when ``generator`` is given.
        history: a :class:`~musicgraph.rag.chat.ChatState`; the question is read as a follow-up
            ("more upbeat", "no Radiohead", "more like the second one", "why that one?") and the
            state is updated with the answer.
        retriever: a :class:`~musicgraph.retrieval.base.Retriever`; default :func:`default_retriever`.
        store: graph store for evidence details and the catalog (default: none unless the default
            retriever needs one).
        generator: a ready generator (tests, benchmarks); ``model``: model id/dir for ``seq2seq``.
        catalog: name index for grounding (default: from ``store``, else the candidates only).
        filters: extra constraints in the filter vocabulary of :func:`musicgraph.retrieval.filters.to_constraints`
            (``year``, ``tags``, ``moods``, ``exclude_artists``, feature ranges, ``explicit``).
        regenerate: on unsupported mentions, generate once more in strict mode before removing them.
        user: personalize for this user key (a personal profile ``me:alice`` after ``musicgraph me
            import``): the user's listening seeds the retrieval and their known songs are left out.

    Returns:
        The :class:`Answer`: its text names only retrieved songs (unsupported mentions are regenerated
        or removed), with the numbered recommendations it cites, the evidence, timings and what
        grounding removed.

    Raises:
        ValueError: empty question or ``k`` out of range (``RequestError`` for a bad filter).
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
        catalog = NameIndex.from_store(store)

    # 1. retrieve (over-fetch, then apply exclusions and feature targets locally)
    t = time.perf_counter()
    if retriever is None:
        retriever = default_retriever(store)
    exclude_ids = []
    if history is not None and history.seed and history.last is not None:
        exclude_ids = [r.result.id for r in history.last.recommendations if r.result.display() == history.seed]
    raw = _retrieve(retriever, query, max(k * OVERFETCH, k + 10), sent, constraints.get("exclude_artists", ()),
                    user=user)
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
