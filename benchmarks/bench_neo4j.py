"""Neo4j backend benchmarks, as ratios against a peer measured in the same run.

1. Full shared-data ingest into Neo4j (time, rows/s), peer: the same ingest into the embedded store.
2. 3-hop recommendation, user -> artist: the engine's scorer in-process against one Cypher query
   doing the same work. In-process: :class:`musicgraph.graph.multihop.MultiHopScorer` (its transition
   matrix over every relationship type, both ways, ``log1p`` weights, built once from the projection)
   with its walk cut to 3 steps (``max_iter=3, tol=0``: what a 3-hop query can compute), ranked by
   :func:`musicgraph.graph.multihop.rank_items` as ``recommend(kind="artist")`` ranks (known artists
   excluded, popularity damping 0.3). Cypher: the same 3-step walk with restart as frontier
   propagation (hop masses ``m1, m2, m3`` aggregated per node, score ``c d m1 + c d^2 m2 + d^3 m3``
   over the same weights and degrees), run directly in a read transaction (no EXPLAIN pre-check:
   that is ``Neo4jStore.query``'s guard for user Cypher). One-time work stays outside the timing on
   both sides: the projection pull and the scorer's matrices in-process, a per-node weighted degree
   property (``mg_bench_deg``, removed afterwards) in Neo4j. The top-k of both must agree (same keys
   in the same order, up to tied scores), else the benchmark exits 1. Also timed, for context:
   ``recommend()`` as shipped (converged walk, float32, no paths), which no 3-hop query computes.
3. Batched ``UNWIND $rows MERGE`` writes vs one auto-commit ``MERGE`` per row, same rows.
4. ``--bulk``: the bulk load (``ingest --store neo4j --bulk``: staging ingest into an embedded store,
   CSV, ``neo4j-admin database import full``, restart, schema and indexes) vs the batched ``UNWIND ...
   MERGE`` path, on the full shared data, both ending with the same content (checksums compared):
   end to end from the datasets (peer: ``ingest`` into Neo4j), and the load alone from the same
   staging store (peer: every node, text, relationship and metadata entry of the staging store
   written with the store's batched upserts). ``--only-bulk`` skips sections 1-3.

Needs a running server (``musicgraph neo4j start``) whose database is empty or a test database; it
is cleared first (``--wipe`` to clear anything). Run::

    .venv/bin/python benchmarks/bench_neo4j.py [--rows 2000] [--users 20] [--k 10] [--json out.json]
        [--bulk | --only-bulk]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from musicgraph.config import get_settings
from musicgraph.graph import EmbeddedStore
from musicgraph.graph.ingest import ingest
from musicgraph.graph.multihop import DEFAULT_REL_WEIGHTS, MultiHopScorer, rank_items, recommend
from musicgraph.graph.neo4j_store import Neo4jStore

#: Relationship types the walk uses (the scorer's default weights), in a Cypher type alternation.
WALK_TYPES = "|".join(t for t, w in DEFAULT_REL_WEIGHTS.items() if w)
_W = "$w[type({r})] * log(1 + coalesce({r}.weight, 1.0))"  # the weight the projection's adjacency gives an edge

DEGREE_PROPERTY = "mg_bench_deg"
SET_DEGREES = (
    "MATCH (n) WHERE n.uid IS NOT NULL "
    "CALL { WITH n "
    f"  OPTIONAL MATCH (n)-[r:{WALK_TYPES}]-() "
    f"  WITH n, sum({_W.format(r='r')}) AS deg "
    f"  SET n.{DEGREE_PROPERTY} = deg "
    "} IN TRANSACTIONS OF 5000 ROWS"
)
REMOVE_DEGREES = (f"MATCH (n) WHERE n.{DEGREE_PROPERTY} IS NOT NULL "
                  f"CALL {{ WITH n REMOVE n.{DEGREE_PROPERTY} }} IN TRANSACTIONS OF 5000 ROWS")

# A 3-step random walk with restart from the user, as frontier propagation: each hop's mass per node is
# aggregated before the next hop (so paths are never enumerated one by one); the artists' masses after
# 1, 2 and 3 hops are combined as MultiHopScorer.ppr's 3 iterations combine them.
_DEG = f".{DEGREE_PROPERTY}"
THREE_HOP = (
    "MATCH (s:User {uid: $user}) "
    "CALL { WITH s "
    f"  MATCH (s)-[r:{WALK_TYPES}]-(d:Artist) "
    f"  RETURN d, $cd * sum({_W.format(r='r')} / s{_DEG}) AS part "
    "  UNION ALL WITH s "
    f"  MATCH (s)-[r1:{WALK_TYPES}]-(a) "
    f"  WITH a, sum({_W.format(r='r1')} / s{_DEG}) AS m1 "
    f"  MATCH (a)-[r2:{WALK_TYPES}]-(d:Artist) "
    f"  RETURN d, $cd2 * sum(m1 * {_W.format(r='r2')} / a{_DEG}) AS part "
    "  UNION ALL WITH s "
    f"  MATCH (s)-[r1:{WALK_TYPES}]-(a) "
    f"  WITH a, sum({_W.format(r='r1')} / s{_DEG}) AS m1 "
    f"  MATCH (a)-[r2:{WALK_TYPES}]-(b) "
    f"  WITH b, sum(m1 * {_W.format(r='r2')} / a{_DEG}) AS m2 "
    f"  MATCH (b)-[r3:{WALK_TYPES}]-(d:Artist) "
    f"  RETURN d, $d3 * sum(m2 * {_W.format(r='r3')} / b{_DEG}) AS part "
    "} "
    "WITH s, d, sum(part) AS r "
    "WHERE NOT (s)-[:LISTENED_TO]->(d) "
    f"WITH d, r / d{_DEG} ^ $damping AS score WHERE score > 0 "
    f"RETURN d.uid AS key, score, d{_DEG} AS deg ORDER BY score DESC, deg DESC, key LIMIT $k"
)


def same_up_to_ties(mine: list[str], theirs: list[str], score: dict[str, float], rtol: float = 1e-9) -> bool:
    """Whether two top-k key lists agree at every rank, allowing tied (or float-noise equal) scores to swap."""
    if len(mine) != len(theirs):
        return False
    return all(a == b or (b in score and np.isclose(score[a], score[b], rtol=rtol, atol=0.0))
               for a, b in zip(mine, theirs, strict=True))


def bench_three_hop(store: Neo4jStore, users: int, k: int) -> dict[str, object]:
    """Section 2 (see the module docstring): timings, agreement and the one-time costs."""
    t0 = time.perf_counter()
    proj = store.projection()
    pull_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scorer = MultiHopScorer(proj, max_iter=3, tol=0.0, dtype=np.float64)  # the engine's walk, cut to 3 steps
    scorer_s = time.perf_counter() - t0
    recommend(store, user=str(proj.keys[proj.label_ranges["User"][0]]), kind="artist", k=k, n_paths=0)  # builds its scorer
    with store._session() as session:
        t0 = time.perf_counter()
        session.run(SET_DEGREES, {"w": DEFAULT_REL_WEIGHTS}).consume()
        degree_s = time.perf_counter() - t0
    restart = scorer.restart
    damp = 1.0 - restart
    params = {"w": DEFAULT_REL_WEIGHTS, "cd": restart * damp, "cd2": restart * damp**2, "d3": damp**3,
              "damping": 0.3, "k": k}
    keys = proj.keys
    lo, hi = proj.label_ranges["User"]
    picked = [str(keys[i]) for i in range(lo, hi)][:users]
    cy_t, mine_t, rec_t, strict, agree = [], [], [], 0, 0
    try:
        store._read(THREE_HOP, {**params, "user": picked[0]})  # warm-up: plan cache, first-touch costs
        rank_items(scorer, {proj.index("User", picked[0]): 1.0}, k=k, kind="artist", popularity_damping=0.3)
        for user in picked:
            u = proj.index("User", user)
            t0 = time.perf_counter()
            rows = store._read(THREE_HOP, {**params, "user": user})
            cy_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ranked = rank_items(scorer, {u: 1.0}, k=k, kind="artist", exclude_known=True, popularity_damping=0.3)
            mine_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            recommend(store, user=user, kind="artist", k=k, n_paths=0)
            rec_t.append(time.perf_counter() - t0)
            theirs = [r["key"] for r in rows]
            mine = [str(keys[i]) for i, _ in ranked]
            full = scorer.ppr({u: 1.0})
            score = {str(keys[i]): float(full[i] / scorer.degree[i] ** 0.3) for i in
                     [*(idx for idx, _ in ranked), *(proj.index("Artist", t) for t in theirs)] if i is not None}
            strict += mine == theirs
            agree += same_up_to_ties(mine, theirs, score)
    finally:
        with store._session() as session:
            session.run(REMOVE_DEGREES).consume()
    cy_ms, mine_ms, rec_ms = (statistics.median(x) * 1e3 for x in (cy_t, mine_t, rec_t))
    return {"users": len(picked), "k": k, "cypher_median_ms": round(cy_ms, 1),
            "scorer_3_steps_median_ms": round(mine_ms, 2), "cypher_over_scorer": round(cy_ms / mine_ms, 1),
            "identical_topk": f"{strict}/{len(picked)}", "identical_up_to_ties": f"{agree}/{len(picked)}",
            "recommend_as_shipped_median_ms": round(rec_ms, 1),
            "one_time": {"projection_pull_s": round(pull_s, 2), "scorer_matrices_s": round(scorer_s, 2),
                         "neo4j_degree_property_s": round(degree_s, 2)},
            "agree_all": agree == len(picked)}


def copy_by_merge(source: EmbeddedStore, target: Neo4jStore) -> None:
    """Every node, text, relationship and metadata entry of ``source`` written with ``target``'s batched
    ``UNWIND ... MERGE`` upserts (the incremental path, as ``ingest`` uses it)."""
    from musicgraph.graph.schema import LABELS, REL_TYPES

    for label in LABELS:
        target.upsert_nodes(label, ((n.key, n.props) for n in source.iter_nodes(label)))
    target.put_texts(dict(source.iter_texts()))
    for rel in REL_TYPES:
        groups: dict[tuple[str, str], list] = {}
        for e in source.iter_edges(rel):
            groups.setdefault((e.src.label, e.dst.label), []).append((e.src.key, e.dst.key, e.props))
        for (sl, dl), rows in groups.items():
            target.upsert_edges(rel, sl, dl, rows)
    for key, value in source.iter_meta():
        if key != "version":
            target.set_meta(key, value)


def bench_bulk(settings, store: Neo4jStore, wipe: bool, ingest_neo4j_s: float | None) -> dict[str, object]:
    """Section 4: bulk load vs batched UNWIND MERGE, end to end and load only (see the module docstring)."""
    import os

    from musicgraph.graph.bulk import bulk_load
    from musicgraph.graph.neo4j_server import Neo4jServer
    from musicgraph.graph.store import content_checksum

    load_before = os.getloadavg()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        staging = EmbeddedStore(Path(tmp) / "staging")
        t0 = time.perf_counter()
        ingest(staging, settings.data_dir, progress=False)
        stage_s = time.perf_counter() - t0
        want = content_checksum(staging)
        rows = sum(staging.count_nodes().values()) + sum(staging.count_edges().values())
        if ingest_neo4j_s is None:  # the end-to-end peer, unless section 1 measured it in this run
            store.claim_for_tests(wipe=wipe)
            t0 = time.perf_counter()
            ingest(store, settings.data_dir, progress=False)
            ingest_neo4j_s = time.perf_counter() - t0
        store.claim_for_tests(wipe=wipe)
        t0 = time.perf_counter()
        copy_by_merge(staging, store)
        merge_s = time.perf_counter() - t0
        merge_same = content_checksum(store) == want
        store.claim_for_tests(wipe=wipe)
        store.close()
        t0 = time.perf_counter()
        report = bulk_load(staging, Neo4jServer(settings))
        bulk_s = time.perf_counter() - t0
        after = Neo4jStore.from_settings(settings)
        bulk_same = content_checksum(after) == want
        after.close()
        staging.close()
    out = {"rows": rows, "staging_ingest_s": round(stage_s, 1), "bulk_load_s": round(bulk_s, 1),
           "bulk_steps_s": report.to_dict()["seconds"], "unwind_merge_ingest_s": round(ingest_neo4j_s, 1),
           "unwind_merge_copy_s": round(merge_s, 1),
           "end_to_end_ratio": round(ingest_neo4j_s / (stage_s + bulk_s), 2),
           "load_only_ratio": round(merge_s / bulk_s, 2),
           "same_content_bulk": bulk_same, "same_content_merge": merge_same,
           "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
    print(f"bulk: staging ingest {stage_s:.1f} s + bulk load {bulk_s:.1f} s ({report.to_dict()['seconds']}) vs "
          f"UNWIND MERGE ingest {ingest_neo4j_s:.1f} s: {out['end_to_end_ratio']}x end to end; load only: "
          f"bulk {bulk_s:.1f} s vs UNWIND MERGE copy {merge_s:.1f} s: {out['load_only_ratio']}x; same content "
          f"bulk {bulk_same}, merge {merge_same}; load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000, help="rows for batched vs per-row MERGE")
    ap.add_argument("--users", type=int, default=20, help="users for the 3-hop comparison")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--wipe", action="store_true", help="clear the database even if it holds other data")
    ap.add_argument("--skip-ingest", action="store_true", help="reuse the data already in Neo4j")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--bulk", action="store_true", help="also run section 4 (bulk load vs UNWIND MERGE)")
    ap.add_argument("--only-bulk", action="store_true", help="run section 4 only")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    out: dict[str, object] = {}
    store = Neo4jStore.from_settings(settings)

    if args.only_bulk:
        out["bulk"] = bench_bulk(settings, store, args.wipe, None)
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return

    # ---- 1. full ingest
    if not args.skip_ingest:
        store.claim_for_tests(wipe=args.wipe)
        t0 = time.perf_counter()
        ingest(store, settings.data_dir, progress=False)
        neo_s = time.perf_counter() - t0
        rows = sum(store.count_nodes().values()) + sum(store.count_edges().values())
        with tempfile.TemporaryDirectory() as tmp:
            emb = EmbeddedStore(tmp)
            t0 = time.perf_counter()
            ingest(emb, settings.data_dir, progress=False)
            emb_s = time.perf_counter() - t0
            same = emb.count_nodes() == store.count_nodes() and emb.count_edges() == store.count_edges()
            emb.close()
        out["ingest"] = {"neo4j_s": round(neo_s, 1), "rows": rows, "neo4j_rows_per_s": round(rows / neo_s),
                         "embedded_s": round(emb_s, 1), "neo4j_vs_embedded": round(neo_s / emb_s, 2),
                         "same_counts": same}
        print(f"ingest: Neo4j {neo_s:.1f} s for {rows:,} nodes+relationships ({rows / neo_s:,.0f} rows/s); "
              f"embedded {emb_s:.1f} s; Neo4j/embedded = {neo_s / emb_s:.2f}x; same counts: {same}")

    # ---- 2. 3-hop: Cypher vs the engine's scorer in-process
    three = bench_three_hop(store, args.users, args.k)
    out["three_hop"] = three
    print(f"3-hop top-{args.k} over {three['users']} users (median): Cypher {three['cypher_median_ms']} ms vs "
          f"MultiHopScorer (3 steps) + rank_items {three['scorer_3_steps_median_ms']} ms: "
          f"x{three['cypher_over_scorer']}; identical top-k {three['identical_topk']}, up to tied scores "
          f"{three['identical_up_to_ties']}; recommend() as shipped (converged walk, no paths) "
          f"{three['recommend_as_shipped_median_ms']} ms; one-time: {three['one_time']}")
    if not three["agree_all"]:
        print("FAILED: the Cypher top-k differs from the scorer's beyond ties")
        sys.exit(1)

    # ---- 3. batched UNWIND MERGE vs per-row MERGE
    n = args.rows
    rows_a = [(f"bench batched {i}", {"name": f"Bench {i}", "sources": ["bench"], "n": i}) for i in range(n)]
    rows_b = [(f"bench per-row {i}", {"name": f"Bench {i}", "sources": ["bench"], "n": i}) for i in range(n)]
    t0 = time.perf_counter()
    store.upsert_nodes("Genre", rows_a)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    with store._driver.session(database=store.database) as session:
        for key, props in rows_b:
            session.run("MERGE (n:Genre {uid: $key}) SET n += $props", {"key": key, "props": props}).consume()
    per_row = time.perf_counter() - t0
    store.delete_nodes("Genre", [r[0] for r in rows_a + rows_b])
    out["merge"] = {"rows": n, "batched_s": round(batched, 3), "per_row_s": round(per_row, 2),
                    "speedup": round(per_row / batched, 1)}
    print(f"MERGE of {n:,} rows: batched UNWIND {batched:.3f} s vs per-row {per_row:.2f} s: "
          f"{per_row / batched:.1f}x faster")

    # ---- 4. bulk load vs batched UNWIND MERGE
    if args.bulk:
        ingest_s = out["ingest"]["neo4j_s"] if isinstance(out.get("ingest"), dict) else None
        out["bulk"] = bench_bulk(settings, store, args.wipe, ingest_s)
        store = Neo4jStore.from_settings(settings)
    store.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
