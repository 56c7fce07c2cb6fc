"""Library objects → response JSON: results with their explanation graph, radar and Neo4j Browser link.

Nothing here ranks or retrieves; it only presents what the library returned (paths, evidence,
audio features) in the shapes of :mod:`musicgraph.service.schemas`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

import numpy as np

from musicgraph.audio_features import UNIT_FEATURES
from musicgraph.graph.results import Result
from musicgraph.graph.schema import REL_PHRASES

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.ask import Answer

#: The radar's axes: audio features on 0..1 scales (those of ``musicgraph ask --explain-dir``).
RADAR_AXES: tuple[str, ...] = UNIT_FEATURES
_FACT_RELS = {"moods": ("Mood", "HAS_MOOD"), "genres": ("Genre", "HAS_GENRE"), "tags": ("Tag", "TAGGED"),
              "songs": ("Song", "PERFORMED_BY")}
_KIND_LABEL = {"song": "Song", "artist": "Artist", "album": "Album", "playlist": "Playlist"}


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None (JSON has no NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _phrase(rel: str) -> tuple[str, str]:
    base = rel.removeprefix("<-")
    fwd, bwd = REL_PHRASES.get(base, (base.lower().replace("_", " "), base.lower().replace("_", " ")))
    return base, (bwd if rel.startswith("<-") else fwd)


def result_ref(res: Result) -> str:
    return f"{_KIND_LABEL.get(res.kind, res.kind.title())}:{res.id}"


def explanation_graph(res: Result, facts: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The result's paths as one graph (seeds → ... → result); without paths, its facts (artist,
    moods, genres, tags from the evidence or ``facts``) pointing at it."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    target = result_ref(res)

    def node(ref: str, label: str, name: str, role: str) -> None:
        old = nodes.get(ref)
        rank = {"result": 3, "seed": 2, "via": 1, "fact": 0}
        if old is None or rank[role] > rank[old["role"]]:
            nodes[ref] = {"id": ref, "label": label, "name": name, "role": role}

    node(target, _KIND_LABEL.get(res.kind, res.kind.title()), res.display(), "result")
    for p in res.paths:
        for i, (ref, name) in enumerate(zip(p.nodes, p.names, strict=False)):
            rid = str(ref)
            node(rid, ref.label, name, "result" if rid == target else "seed" if i == 0 else "via")
        for i, rel in enumerate(p.rels):
            a, b = str(p.nodes[i]), str(p.nodes[i + 1])
            typ, phrase = _phrase(rel)
            edges.setdefault((a, b, typ), {"source": a, "target": b, "type": typ, "phrase": phrase})
    if not res.paths:
        if res.kind == "song" and res.artist:
            akey = res.id.split("|", 1)[0]
            aref = f"Artist:{akey}"
            node(aref, "Artist", res.artist, "fact")
            edges[(aref, target, "PERFORMED_BY")] = {"source": aref, "target": target, "type": "PERFORMED_BY",
                                                     "phrase": "performs"}
        seen: dict[str, list[str]] = {k: list(v) for k, v in res.evidence.items() if k in _FACT_RELS}
        for k, v in (facts or {}).items():
            seen.setdefault(k, []).extend(x for x in v if x not in seen.get(k, []))
        for kind, (label, rel) in _FACT_RELS.items():
            for name in seen.get(kind, [])[:3]:
                ref = f"{label}:{name.lower()}"
                node(ref, label, name, "fact")
                phrase = REL_PHRASES[rel][0 if rel == "PERFORMED_BY" else 1]
                edges.setdefault((ref, target, rel), {"source": ref, "target": target, "type": rel, "phrase": phrase})
    return {"nodes": list(nodes.values()), "edges": list(edges.values())}


def radar(item: Mapping[str, Any] | None, target: Mapping[str, float], estimated: bool = False) -> dict[str, Any]:
    """Radar values: the item's features per axis (None when unknown) and the request's targets."""
    item = item or {}
    return {
        "axes": list(RADAR_AXES),
        "item": {a: finite(item.get(a)) for a in RADAR_AXES},
        "target": {a: round(float(v), 4) for a, v in target.items() if a in RADAR_AXES and finite(v) is not None},
        "estimated": bool(estimated),
    }


def _mid(rng: Sequence[float | None], lo: float = 0.0, hi: float = 1.0) -> float:
    a = lo if rng[0] is None else float(rng[0])
    b = hi if rng[1] is None else float(rng[1])
    return max(lo, min(hi, (a + b) / 2))


def targets_of(parsed: Any = None, text: str = "", overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The request's audio-feature targets on the radar's axes.

    From, weakest first: the request's words (``sad`` → low valence; :func:`musicgraph.rag.explain.requested_features`),
    a parsed or structured request's feature ranges (their middle) and mood point, and ``overrides``
    (chat refinements such as "more upbeat").
    """
    from musicgraph.rag.explain import requested_features

    out: dict[str, float] = {k: v for k, v in requested_features(text).items() if k in RADAR_AXES}
    ranges: dict[str, Any] = {}
    if parsed is not None:
        feats = getattr(parsed, "features", None)
        if isinstance(feats, Mapping):  # ParsedQuery
            ranges.update(feats)
            if getattr(parsed, "valence", None) is not None:
                out["valence"] = float(parsed.valence)
        constraints = getattr(parsed, "constraints", None)
        targets = getattr(parsed, "targets", None)
        if constraints is not None and targets is not None:  # a Request
            ranges.update(constraints.features)
            ranges.update(targets.features)
            if targets.valence is not None:
                out["valence"] = targets.valence
            if targets.arousal is not None:
                out["energy"] = targets.arousal
    for name, rng in ranges.items():
        if name in RADAR_AXES and rng is not None:
            out[name] = _mid(rng)
    out.update({k: float(v) for k, v in (overrides or {}).items() if k in RADAR_AXES})
    return out


def item_features(store: GraphStore, results: Iterable[Result],
                  catalog: Any = None) -> dict[str, tuple[dict[str, Any], bool]]:
    """Audio features per result id (``(props, estimated)``): a song's own (from the result, the
    retrieval catalog's columns, else the store in one batch), an artist's mean over its songs.

    Args:
        catalog: the retrieval :class:`~musicgraph.retrieval.catalog.SongTable` (in-memory columns;
            without it the store is read).
    """
    results = list(results)
    out: dict[str, tuple[dict[str, Any], bool]] = {}
    need = []
    for r in results:
        if r.kind == "song":
            if any(a in r.props for a in RADAR_AXES):
                out[r.id] = (dict(r.props), bool(r.props.get("features_estimated")))
                continue
            row = catalog.row(r.id) if catalog is not None else None
            if row is not None:
                out[r.id] = ({a: finite(catalog.feature(a)[row]) for a in RADAR_AXES},
                             bool(catalog.estimated_flags()[row]))
            else:
                need.append(r.id)
        elif r.kind == "artist":
            rows = catalog.rows_of_artist(r.id) if catalog is not None else None
            if rows is not None and len(rows):
                rows = rows[catalog.alive[rows]]
                means = {}
                for a in RADAR_AXES:
                    col = catalog.feature(a)[rows]
                    col = col[~np.isnan(col)]
                    if len(col):
                        means[a] = float(col.mean())
                out[r.id] = (means, bool(catalog.estimated_flags()[rows].all()) if len(rows) else False)
                continue
            songs = [nb.key for _, nb in store.neighbors("Artist", r.id, "PERFORMED_BY", "in", limit=30)]
            sums: dict[str, list[float]] = {}
            for n in store.get_nodes("Song", songs).values():
                for a in RADAR_AXES:
                    v = finite(n.props.get(a))
                    if v is not None:
                        sums.setdefault(a, []).append(v)
            out[r.id] = ({a: sum(v) / len(v) for a, v in sums.items()}, False)
    nodes = store.get_nodes("Song", need) if need else {}
    for key in need:
        props = nodes[key].props if key in nodes else {}
        out[key] = (dict(props), bool(props.get("features_estimated")))
    return out


def artist_facts(store: GraphStore, results: Iterable[Result]) -> dict[str, dict[str, list[str]]]:
    """Facts of artist results that have no path, so their card still draws a graph: their top
    tags and genres, else a few of their songs."""
    out: dict[str, dict[str, list[str]]] = {}
    for r in results:
        if r.kind == "artist" and not r.paths and not any(k in r.evidence for k in _FACT_RELS):
            tags = store.neighbors("Artist", r.id, "TAGGED", "out")
            tags.sort(key=lambda en: -(finite(en[0].props.get("weight")) or 0.0))
            facts = {"tags": [n.name for _, n in tags[:3]],
                     "genres": [n.name for _, n in store.neighbors("Artist", r.id, "HAS_GENRE", "out", limit=2)]}
            if not facts["tags"] and not facts["genres"]:
                facts["songs"] = [n.name for _, n in store.neighbors("Artist", r.id, "PERFORMED_BY", "in", limit=2)]
            out[r.id] = facts
    return out


# ------------------------------------------------------------------------------ Neo4j Browser
def _cy(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _label(label: str) -> str:
    return label if label.isidentifier() else "`" + label.replace("`", "") + "`"


def browser_cypher(res: Result) -> str:
    """A read-only Cypher query showing the result's first path (or its neighbourhood) in Neo4j Browser."""
    if res.paths:
        p = res.paths[0]
        parts = []
        for i, ref in enumerate(p.nodes):
            parts.append(f"(n{i}:{_label(ref.label)} {{uid: {_cy(ref.key)}}})")
        pattern = parts[0]
        for i, rel in enumerate(p.rels):
            typ = rel.removeprefix("<-")
            arrow = f"<-[:{_label(typ)}]-" if rel.startswith("<-") else f"-[:{_label(typ)}]->"
            pattern += arrow + parts[i + 1]
        return f"MATCH p = {pattern} RETURN p"
    label = _KIND_LABEL.get(res.kind, "Song")
    return f"MATCH (n:{label} {{uid: {_cy(res.id)}}})-[r]-(m) RETURN n, r, m LIMIT 25"


def browser_url(settings: Settings, cypher: str) -> str:
    """Neo4j Browser with ``cypher`` in its editor (the user runs it there)."""
    host = "127.0.0.1"
    if settings.neo4j_uri:
        host = urlparse(settings.neo4j_uri).hostname or host
    return f"http://{host}:{settings.neo4j_http_port}/browser/?cmd=edit&arg={quote(cypher, safe='')}"


# ------------------------------------------------------------------------------ results and answers
def result_views(results: Sequence[Result], store: GraphStore, target: Mapping[str, float],
                 settings: Settings | None = None, catalog: Any = None) -> list[dict[str, Any]]:
    """:class:`~musicgraph.service.schemas.ResultOut` dicts for ``results`` (``catalog``: see :func:`item_features`)."""
    feats = item_features(store, results, catalog)
    facts = artist_facts(store, results)
    neo4j = settings is not None and store.backend == "neo4j"
    out = []
    for r in results:
        d = r.to_dict()
        d["score"] = finite(d["score"]) or 0.0
        d["scores"] = {k: v for k, v in ((k, finite(v)) for k, v in d["scores"].items()) if v is not None}
        d["ranks"] = {k: int(v) for k, v in d["ranks"].items()}
        props, estimated = feats.get(r.id, ({}, False))
        d["graph"] = explanation_graph(r, facts.get(r.id))
        d["radar"] = radar(props, target, estimated)
        d["neo4j_browser"] = browser_url(settings, browser_cypher(r)) if neo4j and settings is not None else None
        out.append(d)
    return out


def answer_view(answer: Answer, store: GraphStore, target: Mapping[str, float],
                settings: Settings | None = None, catalog: Any = None) -> dict[str, Any]:
    """:class:`~musicgraph.service.schemas.AnswerOut` fields of a grounded answer."""
    recs = answer.recommendations
    views = result_views([rec.result for rec in recs], store, target, settings, catalog)
    out_recs = []
    for rec, view in zip(recs, views, strict=True):
        if rec.evidence.features and not any(v is not None for v in view["radar"]["item"].values()):
            view["radar"] = radar(rec.evidence.features, target)
        out_recs.append({**view, "number": rec.number, "reasons": list(rec.reasons)})
    return {
        "text": answer.text,
        "query": answer.query or answer.question,
        "backend": answer.backend,
        "recommendations": out_recs,
        "cited_ids": list(answer.cited_ids),
        "notes": list(answer.notes),
        "timings": {k: round(float(v), 6) for k, v in answer.timings.items() if finite(v) is not None},
    }
