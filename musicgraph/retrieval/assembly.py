"""The steps every retriever shares: resolve a request against the graph, and turn chosen items into results.

:func:`prepare` resolves seeds and exclusions to graph nodes and compiles the constraints, the seed
exclusions and a seed user's known items into one mask over the items of the requested kind.
:func:`assemble` turns :class:`~musicgraph.retrieval.space.Selected` items into
:class:`~musicgraph.graph.results.Result` objects with one explanation path per seed relation and
one edge per tag, genre or mood constraint, and the parsed request in ``evidence["request"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from musicgraph.graph.results import ExplanationPath, Result
from musicgraph.graph.schema import Label
from musicgraph.retrieval.request import Relation, Request, Seed
from musicgraph.retrieval.resources import GraphResources
from musicgraph.retrieval.space import KIND_LABELS, Selected

__all__ = ["Prepared", "SeedNode", "assemble", "prepare"]

#: Relations whose answers must not be the seed artist's own work (for song/album answers).
_NOT_OWN_WORK = frozenset({Relation.FANS_OF, Relation.SIMILAR_TO, Relation.MEMBER_OF, Relation.RELATED})


@dataclass(slots=True)
class SeedNode:
    """A request seed resolved to a projection node, with its relation in force."""

    seed: Seed
    node: int
    relation: Relation


@dataclass(slots=True)
class Prepared:
    """A request resolved against the graph.

    Attributes:
        request: the request.
        seeds: its seeds as nodes.
        mask: items of ``request.kind`` that may be returned (constraints, exclusions, seeds, known).
        notes: remarks for the results' evidence (e.g. nothing satisfies the constraints).
    """

    request: Request
    seeds: list[SeedNode]
    mask: np.ndarray
    notes: list[str] = field(default_factory=list)


def prepare(res: GraphResources, request: Request) -> Prepared:
    """Resolve ``request`` (see the module docstring).

    Raises:
        UnknownEntityError: a seed, tag, genre, mood or exclusion that is not in the graph.
    """
    space = res.space
    kind = request.kind
    seeds = [SeedNode(s, space.resolve(s), s.effective_relation(kind)) for s in request.seeds]
    mask = space.constraint_mask(kind, request.constraints)
    notes = list(request.notes)
    c = request.constraints
    excluded: list[int] = []
    if not c.include_seeds:
        for sn in seeds:
            label = space.projection.label_of(sn.node)
            if label in (Label.TAG, Label.GENRE, Label.MOOD, Label.USER):
                continue
            if label == Label.PLAYLIST and sn.relation == Relation.IN_PLAYLIST_WITH:
                continue
            if label == Label.ARTIST:
                if kind == "artist" or sn.relation in _NOT_OWN_WORK:
                    excluded.append(sn.node)
            elif label == Label.ALBUM and sn.relation == Relation.SAME_ALBUM:
                if kind == "album":
                    excluded.append(sn.node)
            else:
                excluded.append(sn.node)
    if not c.include_known:
        for sn in seeds:
            if space.projection.label_of(sn.node) == Label.USER:
                excluded += res.ops.user_known(sn.node)
    if excluded:
        mask &= ~space.exclusion_mask(kind, excluded)
    # membership relations are what the answers are: "songs by X", "songs from album A", "the P playlist"
    members = [sn for sn in seeds if _is_membership(space, sn)]
    if members and kind in ("song", "album"):
        keep = np.zeros_like(mask)
        for sn in members:
            keep |= space.exclusion_mask(kind, [sn.node])
            if sn.relation == Relation.SAME_ALBUM and space.projection.label_of(sn.node) == Label.SONG:
                keep |= res.ops.score(Relation.SAME_ALBUM, sn.node).for_kind(space, kind) > 0
        if not c.include_seeds:
            keep &= ~space.exclusion_mask(kind, [sn.node for sn in members
                                                 if space.projection.label_of(sn.node) == Label.SONG])
        mask &= keep
    if not mask.any():
        notes.append("no item satisfies the constraints and exclusions")
    return Prepared(request, seeds, mask, notes)


def _is_membership(space, sn: SeedNode) -> bool:
    label = space.projection.label_of(sn.node)
    return (sn.relation == Relation.PERFORMED_BY and label == Label.ARTIST) or (
        sn.relation == Relation.SAME_ALBUM) or (sn.relation == Relation.IN_PLAYLIST_WITH and label == Label.PLAYLIST)


def seed_scores(res: GraphResources, prep: Prepared) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The graph's score of every item of the requested kind: one operator per seed, combined.

    Each seed's operator scores are scaled to a maximum of 1 and combined as a weighted mean
    (``combine="any"``) or a weighted geometric mean (``"all"``: an answer must relate to every
    seed). Without seeds, tag and genre constraints rank by how strongly items carry them, mood
    constraints by the walk from the mood, and otherwise items rank by popularity.

    Returns:
        (combined scores, per-seed scores keyed ``"<relation>:<name>"``)
    """
    space, ops, req = res.space, res.ops, prep.request
    kind = req.kind
    parts: dict[str, np.ndarray] = {}
    weights: list[float] = []
    vectors: list[np.ndarray] = []
    for sn in prep.seeds:
        v = ops.score(sn.relation, sn.node).for_kind(space, kind).astype(np.float64)
        top = float(v[prep.mask].max()) if prep.mask.any() else float(v.max(initial=0.0))
        if top <= 0:
            top = float(v.max(initial=0.0))
        v = v / top if top > 0 else v
        parts[f"{sn.relation.value}:{sn.seed.name}"] = v
        vectors.append(v)
        weights.append(sn.seed.weight)
    if vectors:
        w = np.asarray(weights) / sum(weights)
        if req.combine == "all" and len(vectors) > 1:
            logs = np.zeros(space.n(kind))
            alive = np.ones(space.n(kind), dtype=bool)
            for wi, v in zip(w, vectors, strict=True):
                alive &= v > 0
                logs += wi * np.log(np.maximum(v, 1e-300))
            return np.where(alive, np.exp(logs), 0.0), parts
        return sum(wi * v for wi, v in zip(w, vectors, strict=True)), parts
    c = req.constraints
    attrs = [*c.tags, *c.genres]
    if attrs:
        total = np.zeros(space.n(kind))
        for name in attrs:
            nodes = space.attr_nodes(name)
            if nodes:
                v = ops.score(Relation.TAGGED, nodes[0]).for_kind(space, kind)
                top = float(v.max(initial=0.0))
                total += v / top if top > 0 else v
        parts["tagged:" + "+".join(attrs)] = total
        return total + 1e-6 * space.popularity(kind) / 100.0 * (total > 0), parts
    moods = c.moods or req.targets.moods
    if moods:
        total = np.zeros(space.n(kind))
        from musicgraph.graph.resolve import normalize_tag

        for mood in moods:
            idx = space.projection.index(Label.MOOD, normalize_tag(mood))
            if idx is not None:
                v = ops.score(Relation.HAS_MOOD, idx).for_kind(space, kind)
                top = float(v.max(initial=0.0))
                total += v / top if top > 0 else v
        if total.any():
            parts["has_mood:" + "+".join(moods)] = total
            return total, parts
    pop = space.popularity(kind) / 100.0 + 1e-3
    parts["popularity"] = pop
    return pop, parts


def paths_for(res: GraphResources, prep: Prepared, kind: str, item: int) -> list[ExplanationPath]:
    """One path per seed relation and one edge per tag, genre or mood constraint."""
    ops = res.ops
    out: list[ExplanationPath] = []
    for sn in prep.seeds:
        p = ops.explain(sn.relation, sn.node, kind, item)
        if p is not None:
            out.append(p)
    c = prep.request.constraints
    for name in (*c.tags, *c.genres):
        p = ops.constraint_edge(name, kind, item)
        if p is not None:
            out.append(p)
    for mood in c.moods:
        p = ops.mood_edge(mood, kind, item)
        if p is not None:
            out.append(p)
    return out


def assemble(
    res: GraphResources,
    prep: Prepared,
    selected: Sequence[Selected],
    components: Mapping[str, np.ndarray] | None = None,
    *,
    paths: bool = True,
    extra_paths: Mapping[int, list[ExplanationPath]] | None = None,
    evidence: Mapping[int, Mapping[str, list[str]]] | None = None,
) -> list[Result]:
    """Results for the chosen items (see the module docstring).

    Args:
        components: per-component score vectors over the kind's items (``scores``/``ranks``).
        paths: build explanation paths (one per seed relation and constraint).
        extra_paths: more paths per item (put after the seed paths).
        evidence: more evidence lines per item.
    """
    space, req = res.space, prep.request
    kind = req.kind
    label = KIND_LABELS[kind]
    keys = [space.key(kind, s.item) for s in selected]
    nodes = res.store.get_nodes(label, keys) if keys else {}
    # rank of each chosen item in each component: 1 + allowed items scored strictly higher
    items = np.fromiter((s.item for s in selected), dtype=np.int64, count=len(selected))
    ranks: dict[str, dict[int, int]] = {}
    for name, vec in (components or {}).items():
        vals = vec[prep.mask]
        vals = vals[vals > 0]
        chosen = vec[items]
        chosen = chosen[~np.isnan(chosen)]
        if len(chosen):  # only values above the lowest chosen one can count: usually a handful
            vals = vals[vals > chosen.min()]
        above = [np.count_nonzero(vals > v) for v in vec[items]]  # k counts: cheaper than sorting every item
        ranks[name] = {int(i): int(a) + 1 for i, a, v in zip(items, above, vec[items], strict=True) if v > 0}
    described = req.describe()
    owners = space.item_artist(kind)
    out: list[Result] = []
    for rank, sel in enumerate(selected, start=1):
        key = keys[rank - 1]
        node = nodes.get(key)
        props = dict(node.props) if node else {}
        scores = {name: float(vec[sel.item]) for name, vec in (components or {}).items() if vec[sel.item] > 0}
        comp_ranks = {name: ranks[name][sel.item] for name in scores if sel.item in ranks.get(name, {})}
        if kind == "song":
            artist, title, name = space.catalog.artists[sel.item], space.catalog.titles[sel.item], space.catalog.titles[sel.item]
        else:
            name = space.name(kind, sel.item)
            owner = int(owners[sel.item]) if len(owners) else -1
            artist = name if kind == "artist" else (str(space.projection.names[space.a_lo + owner]) if owner >= 0 else None)
            title = name if kind == "album" else None
        item_paths = paths_for(res, prep, kind, sel.item) if paths else []
        if extra_paths and sel.item in extra_paths:
            item_paths += [p for p in extra_paths[sel.item] if all(p.nodes != q.nodes for q in item_paths)]
        ev: dict[str, list[str]] = {"request": [described]}
        if prep.notes:
            ev["notes"] = list(prep.notes)
        for k_, v in (evidence or {}).get(sel.item, {}).items():
            ev[k_] = list(v)
        out.append(Result(rank=rank, kind=kind, id=key, name=name, score=float(sel.score), artist=artist, title=title,
                          scores=scores, ranks=comp_ranks, paths=item_paths, evidence=ev, props=props))
    return out
