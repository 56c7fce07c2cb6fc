"""``GET /songs/{id}``, ``GET /artists/{id}`` and ``GET /explain/{id}``.

Ids are node keys as results give them (``portishead|glory box``, ``radiohead``); a song may also be
named ``Artist - Title`` and an artist by its name. An unknown id is a 404 with close names.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from musicgraph.graph.results import Result
from musicgraph.service.errors import COMMON_ERRORS, ApiError, error_responses
from musicgraph.service.schemas import ArtistOut, ExplainOut, SongOut
from musicgraph.service.security import require_read
from musicgraph.service.views import (
    RADAR_AXES,
    browser_cypher,
    browser_url,
    explanation_graph,
    finite,
    item_features,
    radar,
    targets_of,
)

router = APIRouter(dependencies=[Depends(require_read)], tags=["entities"])
_ERRORS = error_responses(*COMMON_ERRORS, "unknown_entity", "starting", "store_empty", "invalid_request")
_HIDDEN_PROPS = {"lyrics_ref", "lyrics", "embedding"}
_FEATURES = (*RADAR_AXES, "tempo", "loudness", "key", "mode", "popularity")


def _suggest(projection: Any, label: str, ident: str, n: int = 5) -> list[str]:
    """Close keys (or ``Artist - Title``) of ``label`` for an unknown id."""
    lo, hi = projection.label_ranges.get(label, (0, 0))
    keys = [str(k) for k in projection.keys[lo:hi]]
    probe = ident.lower()
    if label == "Song" and " - " in ident:
        from musicgraph.graph.resolve import song_key, split_featured

        artist, title = ident.split(" - ", 1)
        probe = song_key(split_featured(artist)[0], title)
    elif label == "Artist":
        from musicgraph.graph.resolve import artist_key

        probe = artist_key(ident)
    return difflib.get_close_matches(probe, keys, n=n, cutoff=0.6)


def _song_node(request: Request, ident: str) -> Any:
    from musicgraph.graph.resolve import song_key, split_featured

    state = request.app.state
    store = state.engine.store
    node = store.get_node("Song", ident)
    if node is None and " - " in ident:
        artist, title = ident.split(" - ", 1)
        node = store.get_node("Song", song_key(split_featured(artist)[0], title))
    if node is None:
        gen = state.engine.generation()
        raise ApiError("unknown_entity", f"unknown song {ident!r}" + _hint(sug := _suggest(gen.projection, "Song", ident)),
                       suggestions=sug)
    return node


def _artist_node(request: Request, ident: str) -> Any:
    from musicgraph.graph.resolve import artist_key

    state = request.app.state
    store = state.engine.store
    node = store.get_node("Artist", ident) or store.get_node("Artist", artist_key(ident))
    if node is None:
        gen = state.engine.generation()
        raise ApiError("unknown_entity", f"unknown artist {ident!r}" + _hint(sug := _suggest(gen.projection, "Artist", ident)),
                       suggestions=sug)
    return node


def _hint(suggestions: list[str]) -> str:
    return f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""


def _song_facts(store: Any, key: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for edge, nb in store.neighbors("Song", key, direction="out"):
        out.setdefault(edge.type, []).append(nb)
    return out


@router.get("/songs/{id:path}", response_model=SongOut, responses=_ERRORS, summary="A song")
def song(request: Request, id: str) -> dict[str, Any]:  # noqa: A002 - the path parameter's public name
    """A song's audio features, artist, album, genres, moods, tags and playlists (never its lyrics)."""
    node = _song_node(request, id)
    facts = _song_facts(request.app.state.engine.store, node.key)
    props = node.props
    artists = facts.get("PERFORMED_BY", [])
    album = facts.get("ON_ALBUM", [])
    year = props.get("year")
    return {
        "id": node.key,
        "title": str(props.get("title") or node.name),
        "artist": props.get("artist") or (artists[0].name if artists else None),
        "artist_id": artists[0].key if artists else None,
        "album": props.get("album") or (album[0].name if album else None),
        "year": int(year) if finite(year) is not None else None,
        "features": {f: v for f in _FEATURES if (v := finite(props.get(f))) is not None},
        "features_estimated": bool(props.get("features_estimated")),
        "genres": [n.name for n in facts.get("HAS_GENRE", [])],
        "moods": [n.name for n in facts.get("HAS_MOOD", [])],
        "tags": [n.name for n in facts.get("TAGGED", [])],
        "playlists": [n.name for n in facts.get("IN_PLAYLIST", [])][:50],
        "sources": [str(s) for s in props.get("sources") or []],
    }


@router.get("/artists/{id:path}", response_model=ArtistOut, responses=_ERRORS, summary="An artist")
def artist(request: Request, id: str) -> dict[str, Any]:  # noqa: A002
    """An artist's tags (with how many listeners gave them), genres, listener count, songs and similar artists."""
    node = _artist_node(request, id)
    store = request.app.state.engine.store
    tags, genres, songs, similar, listeners = [], [], [], [], 0
    for edge, nb in store.neighbors("Artist", node.key):
        if edge.type == "TAGGED" and edge.src.label == "Artist":
            tags.append({"name": nb.name, "weight": finite(edge.props.get("weight"))})
        elif edge.type == "HAS_GENRE":
            genres.append(nb.name)
        elif edge.type == "LISTENED_TO":
            listeners += 1
        elif edge.type == "PERFORMED_BY" and nb.label == "Song":
            y = finite(nb.props.get("year"))
            songs.append({"id": nb.key, "title": str(nb.props.get("title") or nb.name),
                          "artist": node.name, "year": int(y) if y is not None else None})
        elif edge.type == "SIMILAR_TO":
            similar.append(nb.name)
    tags.sort(key=lambda t: -(t["weight"] or 0.0))
    songs.sort(key=lambda s: s["title"].lower())
    return {"id": node.key, "name": node.name, "aliases": [str(a) for a in node.props.get("aliases") or []][:20],
            "tags": tags[:30], "genres": genres, "listeners": listeners, "songs": songs[:200], "similar": similar[:30]}


@router.get("/explain/{id:path}", response_model=ExplainOut, responses=_ERRORS, summary="Why an item fits a request")
def explain(
    request: Request,
    id: str,  # noqa: A002
    q: Annotated[str | None, Query(min_length=1, max_length=2000, description="The request (free text).")] = None,
    kind: Annotated[Literal["song", "artist"] | None, Query(description="Default: song when the id has '|'.")] = None,
) -> dict[str, Any]:
    """The explanation subgraph (nodes and edges) of an item for a request, the radar of its audio
    features against the request's targets, and the evidence. Without ``q``: its facts."""
    state = request.app.state
    engine = state.engine
    gen = engine.generation()
    kind = kind or ("song" if "|" in id or " - " in id else "artist")
    node = _song_node(request, id) if kind == "song" else _artist_node(request, id)
    parsed = None
    view = None
    res: Result | None = None
    if q is not None:
        from musicgraph.service.library import answer_retriever, request_view

        r = answer_retriever(gen)
        parsed = r.parse(q)
        view = request_view(parsed, structured=False)
        if kind == "song" and gen.hybrid is not None:
            hits = gen.hybrid.retrieve(parsed.with_(kind="song"), k=1, filters={"keys": [node.key]}, explain=True)
        else:  # among the request's top answers of this kind
            from musicgraph.errors import RequestError

            try:
                hits = [h for h in r.search(parsed.with_(kind=kind, k=100)) if h.id == node.key]
            except RequestError:  # the request cannot be asked for this kind: show the facts
                hits = []
        res = hits[0] if hits else None
    matched = res is not None
    if res is None:
        props = node.props
        res = Result(rank=0, kind=kind, id=node.key, name=node.name, score=0.0,
                     artist=props.get("artist") if kind == "song" else None,
                     title=props.get("title") if kind == "song" else None)
    facts: dict[str, list[str]] = {}
    if kind == "song":
        f = _song_facts(engine.store, node.key)
        facts = {"moods": [n.name for n in f.get("HAS_MOOD", [])], "genres": [n.name for n in f.get("HAS_GENRE", [])],
                 "tags": [n.name for n in f.get("TAGGED", [])]}
    else:
        tags = engine.store.neighbors("Artist", node.key, "TAGGED", "out")
        tags.sort(key=lambda en: -(finite(en[0].props.get("weight")) or 0.0))
        facts = {"tags": [n.name for _, n in tags[:3]],
                 "genres": [n.name for _, n in engine.store.neighbors("Artist", node.key, "HAS_GENRE", "out")][:3]}
    props, estimated = item_features(engine.store, [res], gen.catalog).get(res.id, ({}, False))
    reasons = [f"graph path: {p.sentence()}" for p in res.paths[:3]]
    reasons += [line for line in res.evidence.get("explain", []) if not line.startswith("parsed:")]
    reasons += [f"{k}: {', '.join(v[:5])}" for k, v in facts.items() if v]
    evidence = {k: list(v) for k, v in res.evidence.items()}
    return {
        "id": node.key, "kind": kind, "name": node.name, "artist": res.artist, "request": view,
        "graph": explanation_graph(res, facts), "radar": radar(props, targets_of(parsed, q or ""), estimated),
        "reasons": reasons, "evidence": evidence, "matched": matched,
        "neo4j_browser": browser_url(state.settings, browser_cypher(res)) if engine.store.backend == "neo4j" else None,
    }
