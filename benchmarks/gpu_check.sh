#!/usr/bin/env bash
# Quick check of the CUDA paths of musicgraph's GNN training on a GPU machine.
#
#   bash benchmarks/gpu_check.sh            # uses HetRec from MUSICGRAPH_DATA_DIR (raw files)
#   SOURCE=store bash benchmarks/gpu_check.sh
#
# 1. single-process CUDA training (AMP bf16) of LightGCN and GraphSAGE for a few epochs;
# 2. the same GraphSAGE run through torchrun with 1 process (DDP, NCCL);
# 3. the speed benchmark (full-batch vs mini-batch epoch time) on the GPU.
# Prints the device, epoch times and test metrics; run directories go under $OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
SOURCE=${SOURCE:-hetrec}
EPOCHS=${EPOCHS:-20}
OUT_DIR=${OUT_DIR:-${TMPDIR:-/tmp}/mg-gpu-check}
export MUSICGRAPH_HOME=${MUSICGRAPH_HOME:-$OUT_DIR/home}
mkdir -p "$OUT_DIR"

"$PY" - <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
if not torch.cuda.is_available():
    raise SystemExit("no CUDA device: this script checks the GPU paths")
PYEOF

summary() {  # run dir -> one line: epochs, mean epoch s, test metrics
  "$PY" - "$1" <<'PYEOF'
import json, sys, pathlib
run = pathlib.Path(sys.argv[1])
rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
res = json.loads((run / "result.json").read_text())
ep = sorted(r["epoch_s"] for r in rows)[len(rows) // 2]
t = res["test"]
print(f"{run.name}: device {res['device']} world {res['world_size']} epochs {len(rows)} median epoch {ep:.3f}s "
      f"train+valid {res['train_s']}s  test R@10 {t['recall@10']:.4f} NDCG@10 {t['ndcg@10']:.4f} Hit@10 {t['hit@10']:.4f}")
PYEOF
}

common=(--source "$SOURCE" --epochs "$EPOCHS" --eval-every 5 --patience 100 --no-progress --amp)
rm -rf "$OUT_DIR"/lightgcn-cuda "$OUT_DIR"/sage-cuda "$OUT_DIR"/sage-ddp1 "$OUT_DIR"/sage-mb-cuda
"$PY" -m musicgraph.gnn.train --model lightgcn --layers 3 --lr 0.005 --batch-size 4096 "${common[@]}" --out "$OUT_DIR/lightgcn-cuda"
summary "$OUT_DIR/lightgcn-cuda"
"$PY" -m musicgraph.gnn.train --model sage --aggr sym --layers 2 --lr 0.005 --batch-size 4096 "${common[@]}" --out "$OUT_DIR/sage-cuda"
summary "$OUT_DIR/sage-cuda"
"$PY" -m musicgraph.gnn.train --model sage --aggr sym --layers 2 --mode minibatch --fanouts 10 10 --lr 0.005 --batch-size 4096 "${common[@]}" --out "$OUT_DIR/sage-mb-cuda"
summary "$OUT_DIR/sage-mb-cuda"
TORCHRUN=${TORCHRUN:-$(dirname "$PY")/torchrun}
[ -x "$TORCHRUN" ] || TORCHRUN=torchrun
"$TORCHRUN" --standalone --nproc_per_node=1 -m musicgraph.gnn.train --ddp --model sage --aggr sym --layers 2 --lr 0.005 --batch-size 4096 "${common[@]}" --out "$OUT_DIR/sage-ddp1"
summary "$OUT_DIR/sage-ddp1"
"$PY" benchmarks/bench_gnn.py --source "$SOURCE" --steps 10 --out "$OUT_DIR/bench_gnn_gpu.json" --threads 4
