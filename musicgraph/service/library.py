"""The one place where the service calls the retrieval library: HTTP bodies → library calls.

:func:`search` answers ``POST /recommend`` and ``POST /retrieve``; :func:`ask` answers ``/ask``,
``/chat`` and the OpenAI/Ollama routes. Everything else in :mod:`musicgraph.service` presents
their results.

Free text goes to the hybrid retriever (as ``musicgraph recommend --query`` does). A structured
:class:`~musicgraph.retrieval.request.Request` goes to the multi-hop recommender when it has seeds
and to the hybrid retriever (its constraints as filters) when it has only text or terms. This is
the bridge to the retriever interface of the request-model work (``Retriever.search(request)``):
when that lands, :func:`search` becomes one call and the notes about parts of a request this
version cannot apply go away.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.errors import IndexMissingError, RequestError
from musicgraph.graph.results import Result
from musicgraph.service.views import targets_of

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.ask import Answer
    from musicgraph.rag.chat import ChatState
    from musicgraph.retrieval.request import Request
    from musicgraph.service.engine import Generation

#: Results fetched per requested one when constraints are applied after the multi-hop walk.
OVERFETCH = 5


@dataclass(slots=True)
class SearchOutcome:
    """Results with the request as understood (:class:`~musicgraph.service.schemas.RequestView`
    fields), notes, and the radar's targets."""

    results: list[Result]
    request: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    target: dict[str, float] = field(default_factory=dict)
    took_ms: float = 0.0


def search(gen: Generation, store: GraphStore, *, mode: str, query: str | None = None,
           request: Request | None = None, k: int | None = None) -> SearchOutcome:
    """Answer ``/recommend`` or ``/retrieve`` (``mode``) for free text or a structured request.

    Raises:
        RequestError: a request this version cannot answer (one line naming the field).
        UnknownEntityError: a seed that is not in the graph (with suggestions).
        IndexMissingError: text search without retrieval indexes.
    """
    t0 = time.perf_counter()
    if request is None:
        out = _free_text(gen, store, str(query), k or 10)
    else:
        out = _structured(gen, store, request if k is None else request.with_(k=k), mode)
    out.took_ms = round((time.perf_counter() - t0) * 1000, 3)
    return out


def _free_text(gen: Generation, store: GraphStore, text: str, k: int) -> SearchOutcome:
    from musicgraph.retrieval.retriever import describe

    if gen.retriever is None:
        results = graph_only(gen, store)(text, k)
        return SearchOutcome(results, {"description": "names linked in the text, multi-hop graph only",
                                       "structured": False, "parsed": {"text": text}},
                             [gen.error or "no retrieval index"], targets_of(None, text))
    parsed = gen.retriever.parse(text)
    results = gen.retriever.retrieve(parsed, k=k)
    return SearchOutcome(results, {"description": describe(parsed), "structured": False,
                                   "parsed": _jsonable(parsed.to_dict())}, list(parsed.notes),
                         targets_of(parsed, text))


def _structured(gen: Generation, store: GraphStore, req: Request, mode: str) -> SearchOutcome:
    import musicgraph

    if req.kind not in ("song", "artist"):
        raise RequestError(f"invalid request: kind: {req.kind!r} answers are not served by this version "
                           "(songs and artists are)", field="kind")
    if req.k > 100:
        raise RequestError("invalid request: k: at most 100 results per request", field="k")
    notes: list[str] = []
    filters = _constraint_filters(gen, req, notes)
    view = {"description": req.describe(), "structured": True, "parsed": req.model_dump(mode="json")}
    if req.seeds:
        kw: dict[str, list[str]] = {"artists": [], "songs": [], "tags": [], "moods": []}
        user = None
        for s in req.seeds:
            rel = s.effective_relation(req.kind)
            if s.relation is not None and rel.value not in ("similar_to", "related", "tagged", "has_genre",
                                                            "has_mood", "listened_by", "fans_of"):
                notes.append(f"seed {s.label}:{s.name}: relation {rel.value!r} is read as a multi-hop walk")
            if s.label == "User":
                user = s.key or s.name
            elif s.label == "Artist":
                kw["artists"].append(s.name)
            elif s.label == "Song":
                kw["songs"].append(_song_spec(store, s.key, s.name))
            elif s.label in ("Tag", "Genre"):
                kw["tags"].append(s.name)
            elif s.label == "Mood":
                kw["moods"].append(s.name)
            else:
                raise RequestError(f"invalid request: seeds: {s.label} seeds are not served by this version",
                                   field="seeds")
        if len(req.seeds) > 1 and req.combine == "all":
            notes.append("combine 'all' is read as a weighted blend of the seeds by this version")
        exclude_artists = {e.key or _artist_key(e.name) for e in req.constraints.exclude if e.label == "Artist"}
        n = min(1000, req.k * OVERFETCH) if (filters or exclude_artists) else req.k
        results = musicgraph.recommend(
            store=gen.store, user=user, k=n, kind=req.kind, exclude_known=not req.constraints.include_known,
            max_per_artist=req.diversity.max_per_artist, **kw)
        if req.kind == "song" and filters:
            results = _keep_rows(gen, results, filters, notes)
        if exclude_artists:
            results = [r for r in results
                       if (r.id if r.kind == "artist" else r.id.split("|", 1)[0]) not in exclude_artists]
        results = _renumber(results[: req.k])
    else:
        text = req.text or " ".join(req.terms) or req.dense_text
        if not text:
            raise RequestError("invalid request: seeds: give seeds, or text or terms to search for", field="seeds")
        if req.kind != "song":
            raise RequestError("invalid request: kind: artist answers need seeds in this version", field="kind")
        if gen.retriever is None:
            raise IndexMissingError(gen.error or "no retrieval index: run `musicgraph index build`")
        results = gen.retriever.retrieve(text, k=req.k, filters=filters or None)
    del mode  # both endpoints answer a structured request the same way in this version
    return SearchOutcome(results, view, notes, targets_of(req, req.text or ""))


def _artist_key(name: str) -> str:
    from musicgraph.graph.resolve import artist_key

    return artist_key(name)


def _song_spec(store: GraphStore, key: str | None, name: str) -> str:
    """``ARTIST - TITLE`` for the multi-hop resolver, from a node key or the name given."""
    if key:
        node = store.get_node("Song", key)
        if node is not None and node.props.get("artist"):
            return f"{node.props['artist']} - {node.props.get('title') or node.name}"
    if " - " not in name:
        raise RequestError(f"invalid request: seeds: song {name!r}: write it as 'ARTIST - TITLE' or give its key",
                           field="seeds")
    return name


def _constraint_filters(gen: Generation, req: Request, notes: list[str]) -> dict[str, Any]:
    """The request's constraints as filters of the hybrid retriever (every list conjunctive)."""
    from musicgraph.graph.resolve import song_key, split_featured

    c = req.constraints
    filters: dict[str, Any] = {}
    conj: list[dict[str, Any]] = []
    for name in ("tags", "genres", "moods"):
        values = getattr(c, name)
        if len(values) == 1:
            filters[name] = list(values)
        else:
            conj += [{name: [v]} for v in values]
    if c.years:
        filters["year"] = tuple(c.years)
    for feat, rng in c.features.items():
        if feat == "year":
            filters["year"] = tuple(rng)
        else:
            filters[feat] = tuple(rng)
    if c.explicit is not None:
        filters["explicit"] = c.explicit
    if c.popularity:
        notes.append("constraints.popularity (a percentile band) is not applied by this version")
    for e in c.exclude:
        if e.label == "Artist":
            filters.setdefault("exclude_artists", []).append(e.key or e.name)
        elif e.label == "Song":
            key = e.key
            if key is None and " - " in e.name:
                artist, title = e.name.split(" - ", 1)
                key = song_key(split_featured(artist)[0], title)
            if key:
                filters.setdefault("exclude_keys", []).append(key)
        else:
            notes.append(f"constraints.exclude: {e.label} exclusions are not applied by this version")
    if conj:
        if gen.retriever is None:
            raise IndexMissingError(gen.error or "no retrieval index: run `musicgraph index build`")
        import numpy as np

        from musicgraph.retrieval.filters import filter_mask

        cat = gen.retriever.catalog
        mask = np.ones(len(cat.keys), dtype=bool)
        for f in conj:
            mask &= filter_mask(cat, f)
        filters["keys"] = [cat.keys[i] for i in np.flatnonzero(mask)]
        if not filters["keys"]:
            filters["keys"] = ["\x00no song satisfies every constraint"]
    return filters


def _keep_rows(gen: Generation, results: list[Result], filters: dict[str, Any], notes: list[str]) -> list[Result]:
    if gen.retriever is None:
        notes.append("constraints are not applied to graph results without the retrieval index")
        return results
    from musicgraph.retrieval.filters import filter_mask

    cat = gen.retriever.catalog
    mask = filter_mask(cat, filters)
    out = []
    for r in results:
        row = cat.row(r.id)
        if row is not None and mask[row]:
            out.append(r)
    return out


def _renumber(results: list[Result]) -> list[Result]:
    for i, r in enumerate(results, start=1):
        r.rank = i
    return results


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def graph_only(gen: Generation, store: GraphStore) -> Any:
    """The multi-hop retriever over the names a text links (used while no retrieval index exists)."""
    from musicgraph.rag.ask import graph_retriever

    with _GRAPH_LOCK:
        hit = _GRAPH_RETRIEVERS.get(id(gen))
        if hit is None:
            _GRAPH_RETRIEVERS.clear()
            hit = _GRAPH_RETRIEVERS[id(gen)] = graph_retriever(gen.store)
    return hit


_GRAPH_RETRIEVERS: dict[int, Any] = {}
_GRAPH_LOCK = threading.Lock()


def resolve_backend(backend: str, allowed: list[str]) -> str:
    """The generator to use for a request's ``backend`` among the server's ``allowed`` ones.

    Raises:
        RequestError: a backend the server does not enable (field ``backend``).
    """
    from musicgraph.rag.base import default_backend, installed_backends

    if backend == "best":
        usable = [b for b in installed_backends() if b in allowed]
        return usable[0] if usable else "template"
    if backend not in allowed:
        raise RequestError(f"invalid request: backend: {backend!r} is not enabled on this server (enabled: "
                           f"{', '.join(allowed)}; MUSICGRAPH_SERVE_BACKENDS)", field="backend")
    return default_backend() if backend == "auto" else backend


#: One language-model generation at a time per worker (and one load of each model): they are
#: CPU-bound and large, so parallel ones only add memory. The template needs no lock.
_GENERATE = threading.Lock()


def ask(gen: Generation, store: GraphStore, question: str, *, k: int, backend: str,
        history: ChatState | None = None) -> Answer:
    """A grounded answer (``musicgraph.ask``) with this generation's retriever and name index;
    ``backend`` as :func:`resolve_backend` returned it."""
    import musicgraph

    retriever = gen.retriever.retrieve if gen.retriever is not None else graph_only(gen, store)
    lock = contextlib.nullcontext() if backend == "template" else _GENERATE
    with lock:
        return musicgraph.ask(question, k=k, store=store, backend=backend, history=history, retriever=retriever,
                              catalog=gen.grounding)


def request_view_of_answer(gen: Generation, answer: Answer) -> tuple[dict[str, Any] | None, Any]:
    """How the answer's retrieval query was parsed (for the "why" panel), and the parsed query."""
    from musicgraph.retrieval.retriever import describe

    if gen.retriever is None or not answer.query:
        return None, None
    parsed = gen.retriever.parse(answer.query)
    return {"description": describe(parsed), "structured": False, "parsed": _jsonable(parsed.to_dict())}, parsed
