"""GNN speed benchmarks on HetRec Last.fm (run: ``python benchmarks/bench_gnn.py``).

1. Epoch time of GraphSAGE on the full heterogeneous graph: full-batch propagation vs mini-batch
   (sampled sub-graphs), measured over ``--steps`` optimizer steps and scaled to one epoch.
2. Neighbour sampling: our vectorized CSR sampler vs PyG's sampler (only where pyg-lib or
   torch-sparse is installed; otherwise reported as unavailable).
3. Time to quality: a LightGCN training run with early stopping (or a finished run given with
   ``--run``); the wall and CPU time (training + validation) until validation NDCG@10 first reaches
   ``--target-ndcg``, and until the model's own plateau (the best checkpoint, and the early stop).
   No ratio is printed here: the peer, RecBole 1.2.1 on the same exported split with one thread
   each, was measured side by side with this command (docs/gnn.md, "RecBole beside musicgraph",
   which gives RecBole's commands and both sides' figures).

Prints a JSON summary (also written to ``--out``) with the machine it ran on and the load average,
because CPU timings on a shared machine move with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from musicgraph.gnn.models import LinkPredictor, build_model
from musicgraph.gnn.sampler import HeteroNeighborSampler, pyg_sampler_available
from musicgraph.gnn.train import LinkPredictionModel, TrainConfig, load_graph, sample_negatives, train

#: Fast full-batch settings for time to quality (docs/gnn.md, "Speed"): big BPR batches (5 steps
#: per epoch), Adam at lr 0.01, L2 on the ego embeddings, validation every 5 epochs.
FAST_LIGHTGCN = dict(model="lightgcn", layers=3, lr=0.01, reg=1e-4, batch_size=16384, epochs=400, eval_every=5,
                     patience=4)
FAST_SAGE: dict = dict(model="sage", aggr="sym", rel_aggr="sum", layers=3, lr=0.01, reg=1e-4, batch_size=16384,
                       epochs=400, eval_every=5, patience=4, features=False, transform_lr=0.0, rel_scale=True,
                       rel_scale_init=0.1)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {dev}, torch {torch.__version__}, "
        f"load average {load:.1f}"
    )


def bench_epoch(cfg: TrainConfig, steps: int, device: torch.device) -> dict:
    """Seconds per epoch of full-batch vs mini-batch GraphSAGE (``steps`` steps each, scaled)."""
    graph, split = load_graph(cfg, cfg.split_seed)
    graph = graph.to(device)
    tu, ti = split.train
    codes = np.unique(tu.astype(np.int64) * split.num_items + ti)
    steps_per_epoch = int(np.ceil(len(tu) / cfg.batch_size))
    rng = np.random.default_rng(0)
    out = {"steps_per_epoch": steps_per_epoch, "batch_size": cfg.batch_size}
    for mode in ("full", "minibatch"):
        model = build_model("sage", graph, dim=cfg.dim, layers=cfg.layers, aggr=cfg.aggr)
        task = LinkPredictionModel(model, LinkPredictor(cfg.dim), "bpr", cfg.reg).to(device)
        opt = torch.optim.Adam(task.parameters(), lr=cfg.lr)
        sampler = None
        if mode == "minibatch":
            cpu = graph.to("cpu")
            sampler = HeteroNeighborSampler(
                cpu.edge_index, {t: int(v.numel()) for t, v in cpu.n_id.items()}, cfg.fanouts, seed=0
            )
        times = []
        for step in range(steps + 1):
            b = rng.integers(0, len(tu), cfg.batch_size)
            bu, bp = tu[b], ti[b]
            bn = sample_negatives(bu, split.num_items, codes, rng)
            t0 = time.perf_counter()
            if sampler is None:
                loss = task(graph, *(torch.as_tensor(a, device=device) for a in (bu, bp, bn)))
            else:
                um, im = graph.user_map.cpu().numpy(), graph.item_map.cpu().numpy()
                sub = sampler.sample({graph.user_type: um[bu], graph.item_type: np.concatenate([im[bp], im[bn]])},
                                     None if graph.x is None else {t: v.cpu() for t, v in graph.x.items()})
                sub.n_id = {t: v.to(device) for t, v in sub.n_id.items()}
                sub.edge_index = {t: v.to(device) for t, v in sub.edge_index.items()}
                sub.x = None if sub.x is None else {t: v.to(device) for t, v in sub.x.items()}
                si = sub.seed_pos[graph.item_type].to(device)
                n = len(b)
                loss = task(graph, sub.seed_pos[graph.user_type].to(device), si[:n], si[n:], sub)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step > 0:  # the first step builds caches
                times.append(time.perf_counter() - t0)
        out[f"{mode}_step_s"] = round(float(np.median(times)), 4)
        out[f"{mode}_epoch_s"] = round(float(np.median(times)) * steps_per_epoch, 2)
    out["minibatch_vs_full"] = round(out["minibatch_epoch_s"] / out["full_epoch_s"], 2)
    return out


def bench_sampler(cfg: TrainConfig, batches: int) -> dict:
    """Sub-graph sampling time per batch of ``batch_size`` seed users + 2x items."""
    graph, split = load_graph(cfg, cfg.split_seed)
    num = {t: int(v.numel()) for t, v in graph.n_id.items()}
    rng = np.random.default_rng(0)
    seeds = [
        {graph.user_type: rng.integers(0, num[graph.user_type], cfg.batch_size),
         graph.item_type: rng.integers(0, num[graph.item_type], 2 * cfg.batch_size)}
        for _ in range(batches)
    ]
    ours = HeteroNeighborSampler(graph.edge_index, num, cfg.fanouts, seed=0)
    t0 = time.perf_counter()
    sizes = [sum(int(v.numel()) for v in ours.sample(s).n_id.values()) for s in seeds]
    out = {"ours_ms_per_batch": round(1000 * (time.perf_counter() - t0) / batches, 2), "nodes_per_batch": int(np.mean(sizes))}
    if pyg_sampler_available():
        from musicgraph.gnn.sampler import PygHeteroSampler

        theirs = PygHeteroSampler(graph.edge_index, num, cfg.fanouts, seed=0)
        t0 = time.perf_counter()
        for s in seeds:
            theirs.sample(s)
        out["pyg_ms_per_batch"] = round(1000 * (time.perf_counter() - t0) / batches, 2)
        out["ours_vs_pyg"] = round(out["ours_ms_per_batch"] / out["pyg_ms_per_batch"], 2)
    else:
        out["pyg"] = "unavailable (pyg-lib / torch-sparse not installed)"
    return out


def time_to_quality(run: Path, target: float) -> dict:
    """Wall time until validation NDCG@10 first reaches ``target`` in a run's metrics.jsonl."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    result = json.loads((run / "result.json").read_text()) if (run / "result.json").exists() else {}
    reached = next((r for r in rows if r.get("valid_ndcg@10", -1) >= target), None)
    best = next((r for r in rows if r["epoch"] == result.get("best_epoch")), None)
    out = {
        "run": str(run),
        "model": result.get("model"),
        "target_valid_ndcg@10": target,
        "total_s": rows[-1]["elapsed_s"] if rows else None,
        "total_cpu_s": rows[-1].get("cpu_s") if rows else None,
        "epochs": len(rows),
        "test": {k: round(v, 4) for k, v in result.get("test", {}).items() if k.endswith("@10")},
    }
    if best is not None:  # when the checkpoint that early stopping kept was trained
        out["best_epoch"] = best["epoch"]
        out["best_at_s"] = best["elapsed_s"]
        out["best_at_cpu_s"] = best.get("cpu_s")
    out["load_s"] = result.get("load_s")
    if reached is not None:
        out["reached_at_s"] = reached["elapsed_s"]
        out["reached_at_cpu_s"] = reached.get("cpu_s")
        out["reached_at_epoch"] = reached["epoch"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="hetrec", help="hetrec (raw files) or store")
    ap.add_argument("--steps", type=int, default=5, help="optimizer steps timed per mode")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--run", type=Path, help="a finished LightGCN run directory (skips training one)")
    ap.add_argument("--train-lightgcn", action="store_true", help="train LightGCN now for time-to-quality")
    ap.add_argument("--train-sage", action="store_true", help="train GraphSAGE + KG now for time-to-quality")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--target-ndcg", type=float, default=0.17,
                    help="validation NDCG@10 that counts as LightGCN level (validation runs ~0.017 below test)")
    ap.add_argument("--skip-epoch", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/gnn.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.device == "auto" else
                          ("cpu" if args.device == "auto" else args.device))
    cfg = TrainConfig(source=args.source, model="sage", aggr="sym", batch_size=args.batch_size, progress=False)
    summary: dict = {"machine": machine(), "device": str(device)}
    if not args.skip_epoch:
        summary["sage_epoch"] = bench_epoch(cfg, args.steps, device)
        summary["sampler"] = bench_sampler(cfg, batches=5)
    run = args.run
    if run is None and (args.train_lightgcn or args.train_sage):
        import shutil

        run = Path(f"/tmp/bench-gnn-{'sage' if args.train_sage else 'lightgcn'}-s{args.seed}")
        shutil.rmtree(run, ignore_errors=True)
        train(TrainConfig(source=args.source, out=str(run), progress=False, threads=args.threads, device=args.device,
                          seed=args.seed, split_seed=args.seed, **(FAST_SAGE if args.train_sage else FAST_LIGHTGCN)))
    if run is not None:
        summary["time_to_quality"] = time_to_quality(run, args.target_ndcg)
    text = json.dumps(summary, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
