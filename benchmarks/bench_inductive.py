"""Inductive (fold-in) embeddings vs transductive ones vs MostPop on HetRec Last.fm.

Protocol (``benchmarks/coldstart.py``; fold-in by ``musicgraph.gnn.inductive``): the per-user 80/10/10 split of ``gnn_table.py`` (same seed);
a random 10% of the users and 10% of the artists with at least ``--min-item-users`` training
listeners are kept out of training entirely (nodes, listening, friendships, tags; HetRec tag
assignments of cold users and on cold artists removed from the tag edges). A model is trained on
the rest with the settings of ``gnn_table.py``; then

* cold users are folded in from their training artists (GraphSAGE also from their friends and
  tags) and ranked over the warm artists: Recall/NDCG@10 of their test artists (training and
  validation artists masked);
* cold artists are folded in from their training listeners (GraphSAGE also from their tags) and
  evaluated item-side: the warm users are ranked for each cold artist, target = its test users.

Comparisons on exactly the same users / artists and targets: the transductive embeddings of the
run of ``gnn_table.py`` that trained with everybody (``--transductive-runs``), MostPop (popularity /
user activity), and random vectors.

    .venv/bin/python benchmarks/bench_inductive.py --models LightGCN "GraphSAGE + KG (tags, friends)"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from coldstart import (  # noqa: E402
    cold_item_metrics,
    cold_user_metrics,
    drop_nodes,
    make_holdout,
    neighbour_lists,
    train_on_graph,
)
from gnn_table import MODELS, slug  # noqa: E402

from musicgraph.gnn.inductive import InductiveEmbedder  # noqa: E402

FRIEND = ("User", "FRIEND_OF", "User")
USED_TAG = ("User", "USED_TAG", "Tag")
TAGGED = ("Artist", "TAGGED", "Tag")


def _pairs(split, users, items):
    return {(str(split.user_keys[u]), str(split.item_keys[i])) for u, i in zip(users.tolist(), items.tolist(), strict=True)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--user-frac", type=float, default=0.1)
    p.add_argument("--item-frac", type=float, default=0.1)
    p.add_argument("--min-item-users", type=int, default=10)
    p.add_argument("--models", nargs="+", default=["LightGCN", "GraphSAGE + KG (tags, friends)"])
    p.add_argument("--runs", type=Path, default=Path("/tmp/bench-inductive"))
    p.add_argument("--transductive-runs", type=Path, default=Path("/tmp/bench-inductive/full"),
                   help="runs of gnn_table.py (same names) trained with every user; missing ones are trained")
    p.add_argument("--no-train-transductive", dest="train_transductive", action="store_false")
    p.add_argument("--max-minutes", type=float, default=12.0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import torch

    from musicgraph.config import get_settings
    from musicgraph.gnn.data import make_train_graph, tables_from_hetrec, tables_to_hetero
    from musicgraph.gnn.embed import load_embeddings
    from musicgraph.gnn.splits import hetrec_split, interactions_from_hetrec
    from musicgraph.gnn.train import parse_args
    from musicgraph.graph.resolve import hetrec_key
    from musicgraph.loaders import hetrec

    torch.set_num_threads(args.threads)
    data_dir = args.data_dir or get_settings().data_dir
    t0 = time.perf_counter()
    split = hetrec_split(interactions_from_hetrec(data_dir), seed=args.seed)
    hold = make_holdout(split, args.user_frac, args.item_frac, seed=args.seed, min_item_users=args.min_item_users)
    held = _pairs(split, *split.valid) | _pairs(split, *split.test)
    cold_u, cold_i = set(hold.user_keys), set(hold.item_keys)
    cold_assign = {(hetrec_key(a.user_id), hetrec_key(a.artist_id)) for a in hetrec.iter_tag_assignments(data_dir)
                   if hetrec_key(a.user_id) in cold_u or hetrec_key(a.artist_id) in cold_i}
    tables_full = tables_from_hetrec(data_dir, exclude_pairs=held)  # what the cold nodes bring at fold-in
    tables_train = drop_nodes(tables_from_hetrec(data_dir, exclude_pairs=held | cold_assign),
                              {"User": cold_u, "Artist": cold_i})
    data_train = tables_to_hetero(tables_train)
    test_users = int((np.diff(split.matrix("test")[hold.users].indptr) > 0).sum())
    print(f"cold users {len(hold.users)} ({test_users} with test artists), cold artists {len(hold.items)}, "
          f"kept {hold.kept.num_users} users / {hold.kept.num_items} artists / {len(hold.kept.train_user)} "
          f"training pairs; data {time.perf_counter() - t0:.1f} s", flush=True)

    # histories / listeners of the cold nodes (training pairs with warm partners only)
    full = hold.full
    u_all, i_all = full.train
    cold_user_idx = {int(u): str(full.user_keys[u]) for u in hold.users}
    cold_item_idx = {int(i): str(full.item_keys[i]) for i in hold.items}
    hist: dict[str, list[str]] = {k: [] for k in hold.user_keys}
    lis: dict[str, list[str]] = {k: [] for k in hold.item_keys}
    for a, b in zip(u_all.tolist(), i_all.tolist(), strict=True):
        if a in cold_user_idx and b not in cold_item_idx:
            hist[cold_user_idx[a]].append(str(full.item_keys[b]))
        elif b in cold_item_idx and a not in cold_user_idx:
            lis[cold_item_idx[b]].append(str(full.user_keys[a]))
    user_extra = {FRIEND: neighbour_lists(tables_full, FRIEND, hold.user_keys),
                  USED_TAG: neighbour_lists(tables_full, USED_TAG, hold.user_keys)}
    item_extra = {TAGGED: neighbour_lists(tables_full, TAGGED, hold.item_keys)}

    kept_items = [str(k) for k in hold.kept.item_keys]
    kept_users = [str(k) for k in hold.kept.user_keys]
    rows: list[tuple[str, str, dict, dict, str]] = []
    # MostPop / random need no model
    pop = np.asarray(full.matrix("train").sum(0)).ravel()
    keep_i = np.flatnonzero(~np.isin(np.arange(full.num_items), hold.items))
    mp_u = cold_user_metrics(hold, np.ones((len(hold.users), 1), np.float32), pop[keep_i][:, None].astype(np.float32))
    act = np.asarray(hold.kept.matrix("train").sum(1)).ravel()[:, None].astype(np.float32)
    mp_i = cold_item_metrics(hold, act, np.ones((len(hold.items), 1), np.float32))
    rng = np.random.default_rng(0)
    rd_u = cold_user_metrics(hold, rng.normal(size=(len(hold.users), 64)), rng.normal(size=(len(keep_i), 64)))
    rd_i = cold_item_metrics(hold, rng.normal(size=(len(kept_users), 64)), rng.normal(size=(len(hold.items), 64)))
    rows.append(("MostPop (popularity / user activity)", "-", mp_u, mp_i, "-"))
    rows.append(("random vectors", "-", rd_u, rd_i, "-"))

    timings: dict[str, dict[str, float]] = {}
    for name in args.models:
        out = args.runs / f"{slug(name)}-cold-s{args.seed}"
        cfg = parse_args(["--source", "hetrec", "--seed", str(args.seed), "--split-seed", str(args.seed),
                          "--epochs", "400", "--out", str(out), "--no-progress", "--threads", str(args.threads),
                          "--max-minutes", str(args.max_minutes), *MODELS[name]])
        graph = make_train_graph(data_train, tables_train.keys, hold.kept, features=cfg.features)
        if not (out / "result.json").exists():
            t = time.perf_counter()
            train_on_graph(cfg, graph, hold.kept)
            print(f"{name}: trained without the cold nodes in {time.perf_counter() - t:.0f} s", flush=True)
        res = json.loads((out / "result.json").read_text())
        emb = InductiveEmbedder.from_checkpoint(out, graph=graph, split=hold.kept)
        sage = emb.kind == "sage"
        items_b = emb.final["Artist"][[emb.pos["Artist"][k] for k in kept_items]]
        users_b = emb.final["User"][[emb.pos["User"][k] for k in kept_users]]
        timings[name] = {"train_s": res["train_s"], "cpu_s": res["cpu_s"], "epochs": res["epochs_run"]}
        for method in ("propagate", "bpr", "ls"):
            t = time.perf_counter()
            fu = emb.embed_users(hist, method=method, extra=user_extra if sage else None)
            fi = emb.embed_items(lis, method=method, extra=item_extra if sage else None)
            dt = time.perf_counter() - t
            mu = cold_user_metrics(hold, fu.vectors[[fu.keys.index(k) for k in hold.user_keys]], items_b)
            mi = cold_item_metrics(hold, users_b, fi.vectors[[fi.keys.index(k) for k in hold.item_keys]])
            rows.append((f"{name}, fold-in `{method}`", "inductive", mu, mi, f"{dt:.2f}"))
            print(rows[-1][0], f"users R@10 {mu['recall@10']:.4f} items R@10 {mi['recall@10']:.4f} ({dt:.2f} s)", flush=True)
        trun = args.transductive_runs / f"{slug(name)}-s{args.seed}"
        if not (trun / "embeddings.pt").exists() and args.train_transductive:
            from musicgraph.gnn.train import train

            t = time.perf_counter()
            train(parse_args(["--source", "hetrec", "--seed", str(args.seed), "--split-seed", str(args.seed),
                              "--epochs", "400", "--out", str(trun), "--no-progress", "--threads", str(args.threads),
                              "--max-minutes", str(args.max_minutes), *MODELS[name]]))
            print(f"{name}: trained with everybody (transductive) in {time.perf_counter() - t:.0f} s", flush=True)
        if (trun / "embeddings.pt").exists():
            te = load_embeddings(trun)
            tu = {k: i for i, k in enumerate(te["User"][0])}
            ti = {k: i for i, k in enumerate(te["Artist"][0])}
            mu = cold_user_metrics(hold, te["User"][1][[tu[k] for k in hold.user_keys]],
                                   te["Artist"][1][[ti[k] for k in kept_items]])
            mi = cold_item_metrics(hold, te["User"][1][[tu[k] for k in kept_users]],
                                   te["Artist"][1][[ti[k] for k in hold.item_keys]])
            rows.append((f"{name}, transductive (trained with them)", "transductive", mu, mi, "-"))
        else:
            print(f"no transductive run at {trun} (python benchmarks/gnn_table.py --seeds {args.seed})", flush=True)

    lines = ["| embeddings | cold users R@10 | NDCG@10 | Hit@10 | cold artists R@10 | NDCG@10 | fold-in s (users + artists) |",
             "|---|---|---|---|---|---|---|"]
    for label, _kind, mu, mi, dt in rows:
        lines.append(f"| {label} | {mu['recall@10']:.4f} | {mu['ndcg@10']:.4f} | {mu['hit@10']:.4f} | "
                     f"{mi['recall@10']:.4f} | {mi['ndcg@10']:.4f} | {dt} |")
    table = "\n".join(lines)
    print(table)
    print(json.dumps({"timings": timings, "cold_users": len(hold.users), "cold_user_with_test": test_users,
                      "cold_artists": len(hold.items), "cold_artists_with_test": int(mi["users"]) if rows else 0,
                      "total_s": round(time.perf_counter() - t0, 1)}, indent=2))
    args.runs.mkdir(parents=True, exist_ok=True)
    (args.runs / f"table-s{args.seed}.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
