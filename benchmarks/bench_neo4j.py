"""Neo4j backend benchmarks, as ratios against a peer measured in the same run.

1. Full shared-data ingest into Neo4j (time, rows/s), peer: the same ingest into the embedded store.
2. A 3-hop recommendation (user -> artist -> tag -> artist, ranked by number of paths, known artists
   excluded) as one Cypher query vs the same scoring in-process on the CSR projection
   (sparse vector-matrix products); the top-k lists are checked to be identical.
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
from musicgraph.graph.neo4j_store import Neo4jStore

# Paths are counted per tag first (user -> artist -> tag), then spread to the tag's artists: the same
# number as counting every 3-hop path, without enumerating them one by one.
THREE_HOP = (
    "MATCH (u:User {uid: $user})-[:LISTENED_TO]->(:Artist)-[:TAGGED]->(t:Tag) "
    "WITH u, t, count(*) AS paths "
    "MATCH (t)<-[:TAGGED]-(d:Artist) "
    "WHERE NOT (u)-[:LISTENED_TO]->(d) "
    "RETURN d.uid AS key, sum(paths) AS score ORDER BY score DESC, key LIMIT $k"
)


def three_hop_csr(proj, L, T, user: str, k: int) -> list[tuple[str, int]]:
    """Path counts user -> artist -> tag -> artist with sparse products; ties broken by key."""
    u = proj.index("User", user)
    lo, hi = proj.label_ranges["Artist"]
    listened = L.getrow(u)                        # 1 x n (artists)
    listened.data[:] = 1
    via_tags = listened @ T                       # 1 x n (tags)
    scores = np.asarray((via_tags @ T.T).todense()).ravel()[lo:hi]
    known = listened.indices
    scores[known[(known >= lo) & (known < hi)] - lo] = 0
    cand = np.flatnonzero(scores > 0)
    keys = proj.keys[lo:hi]
    order = sorted(cand, key=lambda i: (-scores[i], keys[i]))[:k]
    return [(str(keys[i]), int(scores[i])) for i in order]


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

    # ---- 2. 3-hop: Cypher vs in-process CSR
    t0 = time.perf_counter()
    proj = store.projection()
    pull_s = time.perf_counter() - t0
    L, T = proj.matrices["LISTENED_TO"], proj.matrices["TAGGED"].copy()
    T.data[:] = 1.0  # count paths, not weights
    users = [u for u in proj.keys[slice(*proj.label_ranges["User"])]][: args.users]
    cy_times, csr_times, identical = [], [], 0
    store.query(THREE_HOP, {"user": users[0], "k": args.k})  # plan cache warm-up
    three_hop_csr(proj, L, T, users[0], args.k)
    for user in users:
        t0 = time.perf_counter()
        cy = [(r["key"], int(r["score"])) for r in store.query(THREE_HOP, {"user": user, "k": args.k})]
        cy_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        mine = three_hop_csr(proj, L, T, str(user), args.k)
        csr_times.append(time.perf_counter() - t0)
        identical += cy == mine
    cy_ms, csr_ms = statistics.median(cy_times) * 1e3, statistics.median(csr_times) * 1e3
    out["three_hop"] = {"users": len(users), "cypher_median_ms": round(cy_ms, 2), "csr_median_ms": round(csr_ms, 3),
                        "cypher_over_csr": round(cy_ms / csr_ms, 1), "identical_topk": f"{identical}/{len(users)}",
                        "projection_pull_s": round(pull_s, 2)}
    print(f"3-hop top-{args.k}: Cypher {cy_ms:.2f} ms vs CSR {csr_ms:.3f} ms per user (median of {len(users)}): "
          f"CSR {cy_ms / csr_ms:.1f}x faster; identical top-k {identical}/{len(users)}; "
          f"projection pulled from Neo4j once in {pull_s:.2f} s")

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
