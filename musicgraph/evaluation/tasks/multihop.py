"""Smoke check of multi-hop chaining: template questions generated from the graph (protocol ``multihop-gold`` v1).

Registered as ``multihop_smoke``; task 4 proper (``multihop``) is
:mod:`musicgraph.evaluation.tasks.heldout_multihop`, judged by held-out listeners. The gold answers
here come from the same co-listening rule the graph component counts, so this task only checks that
a system chains the relation a question names and explains it with the right path.

Questions are generated from the ingested store with a fixed seed; their answers are computed by an
exact query over the store, and every answer carries its **gold path**, a chain of typed hops:

* ``tag_fans``: "``<tag>`` songs by artists that fans of ``<Y>`` also listen to". Answers: songs
  performed by an artist ``A`` that at least ``c`` of ``Y``'s HetRec listeners also listen to
  (``c = max(3, 15%`` of ``Y``'s listeners``)``) and that Last.fm users tagged ``<tag>``. Gold path
  ``Y <-LISTENED_TO- u -LISTENED_TO-> A <-PERFORMED_BY- S`` plus ``<tag> <-TAGGED- A``.
* ``mood_similar``: "``<mood>`` songs by artists similar to ``<Y>``" (similar = co-listened as
  above; the store has no Last.fm similar-artist edges). Answers: songs of those artists whose mood
  labels contain ``<mood>``. Gold path ``Y <-LISTENED_TO- u -LISTENED_TO-> A <-PERFORMED_BY- S`` plus
  ``S -HAS_MOOD-> <mood>``.

A question is kept when it has 3..150 answers and the constraint alone is not enough (the tag or mood
has at least three times as many songs as the question has answers), so one hop cannot answer it.

Held out: ``SIMILAR_TO`` and ``MEMBER_OF`` edges (artist-artist shortcuts a system could copy the
"similar to Y" answer from) are removed from the systems' graph. The edges of the gold paths stay
visible: they are the facts the question asks the system to chain, and Path Recall measures whether
its explanations name them (held-out *label prediction* is task 3).

Metrics at K = 10: Hit@10, MAP@10, NDCG@10, Precision@10 and **Path Recall@10**: for every answer
in the top 10, the fraction of its gold path edges that the result's explanation paths contain (an
edge ``Y - u`` matches any common listener ``u`` of ``Y`` and ``A``), averaged over those answers; a
question without an answer in its top 10 scores 0.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musicgraph.evaluation.tasks import EvalConfig, SystemResult, TaskResult, run_seeds
from musicgraph.evaluation.tasks import retrieval_common as R
from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

PROTOCOL = "multihop-gold"
PROTOCOL_VERSION = 1
K = 10
GEN_SEED = 0
MIN_ANSWERS, MAX_ANSWERS = 3, 150
QUESTIONS_PER_TYPE = {"full": 40, "quick": 8}
HELD_OUT_RELS: tuple[str, ...] = ("SIMILAR_TO", "MEMBER_OF")

Node = tuple[str, str]  # (label, key)


@dataclass(slots=True)
class Question:
    """A generated question with its exact answers and gold paths.

    Attributes:
        kind: ``tag_fans`` or ``mood_similar``.
        text: the question in words.
        seed_artist / constraint: the structured form (``("Tag", key)`` or ``("Mood", key)``).
        answers: gold song keys.
        gold: song key -> gold edge slots, each a pair of node sets (an edge matches when it joins
            the two sets, in either direction).
    """

    kind: str
    text: str
    seed_artist: str
    seed_name: str
    constraint: Node
    constraint_name: str
    answers: set[str]
    gold: dict[str, list[tuple[frozenset[Node], frozenset[Node]]]] = field(default_factory=dict)


@dataclass(slots=True)
class GraphFacts:
    """The parts of the store the generator queries."""

    fans: dict[str, set[str]]
    artist_tags: dict[str, dict[str, float]]
    songs_of: dict[str, list[str]]
    song_moods: dict[str, set[str]]
    names: dict[Node, str]

    @classmethod
    def from_store(cls, store: GraphStore, songs: set[str] | None = None) -> GraphFacts:
        fans: dict[str, set[str]] = defaultdict(set)
        for e in store.iter_edges("LISTENED_TO"):
            fans[e.dst.key].add(e.src.key)
        tags: dict[str, dict[str, float]] = defaultdict(dict)
        for e in store.iter_edges("TAGGED"):
            if e.src.label == "Artist":
                tags[e.src.key][e.dst.key] = float(e.props.get("weight", 1) or 1)
        songs_of: dict[str, list[str]] = defaultdict(list)
        for e in store.iter_edges("PERFORMED_BY"):
            if songs is None or e.src.key in songs:
                songs_of[e.dst.key].append(e.src.key)
        moods: dict[str, set[str]] = defaultdict(set)
        for e in store.iter_edges("HAS_MOOD"):
            if e.src.label == "Song":
                moods[e.src.key].add(e.dst.key)
        names: dict[Node, str] = {}
        for label in ("Artist", "Tag"):
            for n in store.iter_nodes(label):
                names[(label, n.key)] = str(n.props.get("name") or n.key)
        return cls(dict(fans), dict(tags), {a: sorted(set(s)) for a, s in songs_of.items()}, dict(moods), names)


def co_listened(facts: GraphFacts, y: str) -> dict[str, set[str]]:
    """Artists (with songs) that at least ``max(3, 15%)`` of ``y``'s listeners listen to -> common fans."""
    fy = facts.fans.get(y, set())
    need = max(3, math.ceil(0.15 * len(fy)))
    common: dict[str, set[str]] = defaultdict(set)
    by_user: dict[str, list[str]] = defaultdict(list)
    for a, us in facts.fans.items():
        if a == y or a not in facts.songs_of:
            continue
        for u in us & fy:
            by_user[u].append(a)
            common[a].add(u)
    return {a: us for a, us in common.items() if len(us) >= need}


def generate(facts: GraphFacts, n_per_type: int, seed: int = GEN_SEED) -> list[Question]:
    """Questions of both kinds from ``facts`` (see the module docstring), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    candidates = sorted((a for a, us in facts.fans.items() if len(us) >= 15), key=lambda a: (-len(facts.fans[a]), a))
    order = rng.permutation(len(candidates))
    tag_songs: dict[str, int] = defaultdict(int)
    for a, ts in facts.artist_tags.items():
        for t in ts:
            tag_songs[t] += len(facts.songs_of.get(a, ()))
    mood_songs: dict[str, int] = defaultdict(int)
    for ms in facts.song_moods.values():
        for m in ms:
            mood_songs[m] += 1
    out: dict[str, list[Question]] = {"tag_fans": [], "mood_similar": []}
    for i in order:
        if all(len(v) >= n_per_type for v in out.values()):
            break
        y = candidates[i]
        co = co_listened(facts, y)
        if not co:
            continue
        yname = facts.names.get(("Artist", y), y)

        def slots(a: str, s: str, y: str = y, co: dict[str, set[str]] = co) -> list[tuple[frozenset[Node], frozenset[Node]]]:
            us = frozenset(("User", u) for u in co[a])
            return [(frozenset({("Artist", y)}), us), (us, frozenset({("Artist", a)})),
                    (frozenset({("Artist", a)}), frozenset({("Song", s)}))]

        if len(out["tag_fans"]) < n_per_type:
            by_tag: dict[str, set[str]] = defaultdict(set)
            for a in co:
                for t, w in facts.artist_tags.get(a, {}).items():
                    if w >= 2:
                        by_tag[t].add(a)
            options = []
            for t, arts in by_tag.items():
                ans = {s for a in arts for s in facts.songs_of[a]}
                if MIN_ANSWERS <= len(ans) <= MAX_ANSWERS and tag_songs[t] >= 3 * len(ans) and len(t) > 2:
                    options.append((len(arts), t, arts, ans))
            if options:
                options.sort(key=lambda o: (-o[0], o[1]))
                _, t, arts, ans = options[int(rng.integers(0, min(5, len(options))))]
                tname = facts.names.get(("Tag", t), t)
                q = Question("tag_fans", f"{tname} songs by artists that fans of {yname} also listen to", y, yname,
                             ("Tag", t), tname, ans)
                for a in arts:
                    for s in facts.songs_of[a]:
                        q.gold[s] = [*slots(a, s), (frozenset({("Tag", t)}), frozenset({("Artist", a)}))]
                out["tag_fans"].append(q)
        if len(out["mood_similar"]) < n_per_type:
            by_mood: dict[str, dict[str, str]] = defaultdict(dict)
            for a in co:
                for s in facts.songs_of[a]:
                    for m in facts.song_moods.get(s, ()):
                        by_mood[m][s] = a
            options2 = [(len(sa), m, sa) for m, sa in by_mood.items()
                        if MIN_ANSWERS <= len(sa) <= MAX_ANSWERS and mood_songs[m] >= 3 * len(sa)]
            if options2:
                options2.sort(key=lambda o: (-o[0], o[1]))
                _, m, sa = options2[int(rng.integers(0, len(options2)))]
                q = Question("mood_similar", f"{m} songs by artists similar to {yname}", y, yname, ("Mood", m), m,
                             set(sa))
                for s, a in sa.items():
                    q.gold[s] = [*slots(a, s), (frozenset({("Song", s)}), frozenset({("Mood", m)}))]
                out["mood_similar"].append(q)
    return out["tag_fans"] + out["mood_similar"]


def path_edges(paths: list[Any]) -> list[tuple[Node, Node]]:
    """Consecutive node pairs of explanation paths (``Path`` objects or their dict form)."""
    edges = []
    for p in paths:
        nodes = p.nodes if hasattr(p, "nodes") else p["nodes"]
        refs = [(n.label, n.key) if hasattr(n, "label") else (n["label"], n["key"]) for n in nodes]
        edges += list(zip(refs, refs[1:], strict=False))
    return edges


def path_recall(q: Question, ranked: list[tuple[str, list[Any]]], k: int = K) -> float:
    """Mean fraction of gold edge slots recovered by the explanation paths of the answers in the top ``k``."""
    fracs = []
    for key, paths in ranked[:k]:
        slots = q.gold.get(key)
        if not slots:
            continue
        edges = path_edges(paths)
        got = sum(any((a in sa and b in sb) or (b in sa and a in sb) for a, b in edges) for sa, sb in slots)
        fracs.append(got / len(slots))
    return float(np.mean(fracs)) if fracs else 0.0


def run(cfg: EvalConfig) -> TaskResult:
    """Run task 4 (see the module docstring)."""
    t0 = time.perf_counter()
    result = TaskResult(task="multihop_smoke", protocol={"name": PROTOCOL, "version": PROTOCOL_VERSION},
                        main_metrics=[f"hit@{K}", f"map@{K}", f"path_recall@{K}", f"ndcg@{K}"])
    opened = R.open_store_and_index(cfg, result)
    if opened is None:
        return result
    store, bundle = opened
    index_dir = R.default_index_dir(cfg)
    catalog_keys = set(bundle.catalog.keys)
    facts = GraphFacts.from_store(store, songs=catalog_keys)
    n_per = QUESTIONS_PER_TYPE["quick" if cfg.quick else "full"]
    questions = generate(facts, n_per)
    if not questions:
        result.missing["*"] = "no question could be generated (needs LISTENED_TO, TAGGED or HAS_MOOD and songs)"
        store.close()
        return result
    from musicgraph.retrieval.retriever import HybridRetriever

    retriever = HybridRetriever(store, bundle=bundle, data_dir=cfg.data_dir, encoder=cfg.encoder)
    held = _hold_out(retriever, store)
    kinds: dict[str, int] = defaultdict(int)
    for q in questions:
        kinds[q.kind] += 1
    result.protocol.update({
        "generator_seed": GEN_SEED,
        "questions": dict(kinds),
        "answers_per_question": {"min": MIN_ANSWERS, "max": MAX_ANSWERS,
                                 "mean": float(np.mean([len(q.answers) for q in questions]))},
        "co_listening": "artist A co-listened with Y when >= max(3, ceil(15% of Y's listeners)) listeners share both",
        "held_out": {r: held.get(r, 0) for r in HELD_OUT_RELS},
        "k": K,
        "path_recall": "per answer in the top 10: share of its gold path edges in its explanation paths; mean over "
                       "those answers; 0 when none",
        "bootstrap": {"n": cfg.n_boot, "seed": cfg.boot_seed, "alpha": 0.05, "unit": "question"},
        "quick": cfg.quick,
        "examples": [q.text for q in questions[:3]] + [q.text for q in questions if q.kind == "mood_similar"][:3],
    })
    n_rel = [len(q.answers) for q in questions]
    by_kind = {k: np.array([i for i, q in enumerate(questions) if q.kind == k]) for k in kinds}

    def score(lists: list[list[tuple[str, list[Any]]]]) -> dict[str, np.ndarray]:
        rel = [[key in q.answers for key, _ in lst] for q, lst in zip(questions, lists, strict=True)]
        out = R.binary_metrics(rel, n_rel, K)
        out[f"path_recall@{K}"] = np.array([path_recall(q, lst) for q, lst in zip(questions, lists, strict=True)])
        return out

    def add(name: str, sysres: SystemResult) -> None:
        result.add_system(name, sysres, by_kind, cfg.boot_seed, cfg.n_boot)
        log.info("multihop: %s Hit@10 %.3f PathR@10 %.3f (%.1fs)", name, sysres.mean(f"hit@{K}"),
                 sysres.mean(f"path_recall@{K}"), sysres.seconds)

    cat = retriever.catalog
    alive = [k for k, a in zip(cat.keys, cat.alive, strict=True) if a]

    def random_one(seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return score([[(alive[j], []) for j in rng.choice(len(alive), min(K, len(alive)), replace=False)] for _ in questions])

    add("random", run_seeds("random", list(cfg.training_seeds()), random_one))
    pop = np.nan_to_num(cat.feature("popularity"), nan=-1.0)
    order = [cat.keys[i] for i in np.argsort(-pop, kind="stable") if cat.alive[i]]
    top_pop = order[: K * 20]
    add("mostpop", run_seeds("mostpop", [0], lambda s: score(
        [[(k, []) for k in [x for x in top_pop if facts_artist(cat, x) != q.seed_artist][:K]] for q in questions])))
    available = [c for c in R.COMPONENTS if not (c == "dense" and bundle.dense is None)]
    if bundle.dense is None:
        result.missing["dense"] = f"the index in {index_dir} has no dense vectors"
    for name, sw in R.systems(available).items():
        def one(seed: int, sw: dict[str, bool] = sw) -> dict[str, np.ndarray]:
            lists = []
            for q in questions:
                res = retriever.retrieve(q.text, k=K, **sw)
                lists.append([(r.id, r.paths) for r in res])
            return score(lists)

        add(name, run_seeds(name, [0], one, params=sw))
    # the graph walk with perfect entity linking (structured seeds instead of the parsed text)
    add("graph-structured", run_seeds("graph-structured", [0], lambda s: score(
        [_structured(retriever, q) for q in questions]), params={"seeds": "exact artist + tag/mood node"}))
    add("graph-and", run_seeds("graph-and", [0], lambda s: score(
        [_structured(retriever, q, conjunctive=True) for q in questions]),
        params={"seeds": "exact artist + tag/mood node", "scoring": "geometric mean of one PPR per seed"}))
    _gnn(cfg, result, questions, index_dir, score, add)
    result.extra["ablation_of"] = "hybrid"
    metric = result.main_metrics[0]
    excl = ["hybrid", "graph-structured", "graph-and", *[n for n in result.systems if n.startswith("hybrid-no-")]]
    best = result.best(metric, exclude=excl)
    if best and "hybrid" in result.systems:
        for m in (metric, f"map@{K}", f"path_recall@{K}"):
            result.add_paired(m, "hybrid", best, 0)
        result.extra["hybrid_vs_best_single"] = {
            "best": best, "metric": metric,
            "ci_overlap": result.systems["hybrid"].ci[metric].overlaps(result.systems[best].ci[metric])}
    result.notes.append("Questions are templated from the graph itself: the systems read free text through the "
                        "lexicon parser (graph-structured gets exact seeds), so linking errors count against them.")
    store.close()
    result.seconds = time.perf_counter() - t0
    return result


def facts_artist(cat: Any, key: str) -> str:
    r = cat.row(key)
    return cat.artist_keys[r] if r is not None else ""


def _hold_out(retriever: Any, store: GraphStore) -> dict[str, int]:
    """Remove the held-out relationship types from the retriever's graph; return the edge counts removed."""
    counts = store.count_edges()
    held = {r: int(counts.get(r, 0)) for r in HELD_OUT_RELS}
    if any(held.values()):
        from musicgraph.graph.projection import Projection
        from musicgraph.retrieval.graph import GraphComponent

        proj = store.projection()
        matrices = {r: m for r, m in proj.matrices.items() if r not in HELD_OUT_RELS}
        cut = Projection(keys=proj.keys, names=proj.names, label_ranges=proj.label_ranges, matrices=matrices,
                         version=proj.version + "-without-similar")
        retriever.resources._walker = GraphComponent(cut, retriever.catalog)
    return held


def _structured(retriever: Any, q: Question, conjunctive: bool = False) -> list[tuple[str, list[Any]]]:
    """PPR of the retriever's graph component from the exact seeds of ``q``.

    ``conjunctive``: one walk per seed and the geometric mean of the two damped scores (an answer must
    be close to the artist *and* to the tag/mood), instead of one walk restarting at both seeds.
    """
    g = retriever.graph
    proj = g.projection
    seeds: dict[int, float] = {}
    for label, key, w in (("Artist", q.seed_artist, 1.0), (*q.constraint, 1.0)):
        idx = proj.index(label, key)
        if idx is not None:
            seeds[idx] = w
    if not seeds:
        return []
    gs = g.score(seeds)
    scores = gs.scores.copy().astype(np.float64)
    if conjunctive:
        if len(seeds) < 2:
            return []
        scores = np.ones_like(scores)
        for idx in seeds:
            scores *= g.score({idx: 1.0}).scores
        scores = np.sqrt(scores)
    cat = retriever.catalog
    scores[cat.rows_of_artist(q.seed_artist)] = 0.0
    scores[~cat.alive] = 0.0
    top = [int(r) for r in np.argsort(-scores, kind="stable")[: K * 5] if scores[r] > 0]
    chosen, per = [], defaultdict(int)
    for r in top:
        a = cat.artist_keys[r]
        if per[a] >= retriever.config.per_artist:
            continue
        per[a] += 1
        chosen.append(r)
        if len(chosen) == K:
            break
    return [(cat.keys[r], g.paths(gs, r, top=2)) for r in chosen]


def _gnn(cfg: EvalConfig, result: TaskResult, questions: list[Question], index_dir: Any, score: Any, add: Any) -> None:
    """GNN-only: songs nearest (cosine) to the mean embedding of the seed artist and the constraint node."""
    from pathlib import Path

    d = Path(index_dir) if index_dir else None
    if d is None or not (d / "gnn.faiss").is_file():
        result.missing["gnn"] = f"no GNN embeddings at {d}/gnn.faiss (run `musicgraph gnn train` and `musicgraph gnn embed`)"
        return
    from musicgraph.gnn.embed import GnnIndex
    from musicgraph.graph.schema import NodeRef

    idx = GnnIndex.load(d)

    def lists(seed: int) -> dict[str, np.ndarray]:
        out = []
        for q in questions:
            seeds = [NodeRef("Artist", q.seed_artist), NodeRef(*q.constraint)]
            hits = idx.similar(seeds, k=K * 3, label="Song")
            keys = [r.key for r, _ in hits if not r.key.startswith(q.seed_artist + "|")][:K]
            out.append([(k, []) for k in keys])
        return score(out)

    add("gnn", run_seeds("gnn", [0], lists, params={"index": str(d / "gnn.faiss")}))
