"""Train a recommender on the music graph (``python -m musicgraph.gnn.train`` / ``musicgraph gnn train``).

Models: ``mf`` (MF-BPR), ``lightgcn``, ``sage`` (hetero GraphSAGE over the whole graph),
``sage-bipartite`` (GraphSAGE on user-item edges only). The data is the store (product path) or
HetRec files (``--source hetrec``), split per user 80/10/10 (:mod:`musicgraph.gnn.splits`).

* device auto-selection (CUDA when present), mixed precision (bf16 autocast) on CUDA;
* full-batch propagation per step (``--mode full``) or sampled sub-graphs (``--mode minibatch``,
  PyG's sampler when available, else :mod:`musicgraph.gnn.sampler`);
* BPR (or BCE) with uniformly sampled negatives, L2 on the batch's input embeddings;
  optionally XSimGCL's contrastive regularizer (``--cl-weight``): every layer's output is
  perturbed by a small random rotation and the final embeddings of the batch's users and items
  are contrasted (InfoNCE) with their layer-``--cl-layer`` embeddings of the same forward pass;
* validation Recall@20 every ``--eval-every`` epochs with early stopping (optionally first
  ``--lr-decays`` restarts from the best checkpoint at ``--lr-decay`` times the learning rate), ``best.pt`` / ``last.pt``
  checkpoints, ``--resume``, a JSONL metrics log, test metrics of the best model in ``result.json``
  and the final embeddings in ``embeddings.pt`` (for ``musicgraph gnn embed``);
* multi-GPU / multi-node: ``torchrun --nproc_per_node=N -m musicgraph.gnn.train --ddp`` with
  DistributedDataParallel (NCCL on GPU, Gloo on CPU) and a DistributedSampler over the training pairs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from musicgraph.gnn.data import (
    TrainGraph,
    make_train_graph,
)
from musicgraph.gnn.full_sort import format_metrics, full_sort_metrics
from musicgraph.gnn.models import (
    LinkPredictor,
    bce_loss,
    bpr_loss,
    build_model,
    info_nce,
    l2_reg,
    softmax_loss,
)
from musicgraph.gnn.splits import Split, hetrec_split

log = logging.getLogger(__name__)

ModelName = Literal["mf", "lightgcn", "sage", "sage-bipartite"]
SourceName = Literal["store", "hetrec"]
BackendName = Literal["embedded", "neo4j"]
#: SAGEConv neighbour aggregation (``sym`` = GCN-normalized sum, run as one sparse product)
Aggregation = Literal["mean", "sym", "sum", "max", "min", "mul"]
#: how the outputs of the relation types meeting at a node type are combined (HeteroConv)
RelationAggregation = Literal["sum", "mean", "max", "min", "cat"]
InitName = Literal["identity", "default"]
CombineName = Literal["mean", "last", "cat"]
ActivationName = Literal["none", "relu", "tanh"]
PredictorName = Literal["dot", "cos", "mlp"]
LossName = Literal["bpr", "bce", "softmax", "multinomial"]
ModeName = Literal["full", "minibatch"]


@dataclass
class TrainConfig:
    """Every option of a training run (also written to ``config.json`` in the run directory).

    The fields with a fixed set of values are ``Literal`` types, checked on construction (ValueError
    naming the field) and offered as choices on the command line.
    """

    model: ModelName = "sage"
    source: SourceName = "store"
    backend: BackendName | None = None  # default: neo4j when MUSICGRAPH_NEO4J_URI is set
    store: str | None = None  # embedded store directory (default: MUSICGRAPH_HOME/stores/<name>)
    data_dir: str | None = None
    out: str | None = None  # run directory (default: MUSICGRAPH_HOME/models/gnn/<model>-s<seed>)
    dim: int = 64
    layers: int = 2
    aggr: Aggregation = "mean"
    rel_aggr: RelationAggregation = "mean"
    init: InitName = "identity"
    rel_scale: bool = False  # sage: learn one scalar per relation type (weighs friends/tags vs listening)
    rel_scale_init: float = 1.0  # initial scalar of the non-interaction relations
    combine: CombineName = "mean"
    activation: ActivationName = "none"
    dropout: float = 0.0
    predictor: PredictorName = "dot"
    # bpr | bce | softmax (sampled softmax over the positive and its --num-neg negatives) |
    # multinomial (softmax over all items per user; --batch-size counts users, full-batch only)
    loss: LossName = "bpr"
    num_neg: int = 1  # negatives drawn per positive pair
    temperature: float = 0.2  # softmax loss only (scores are divided by it)
    # XSimGCL contrastive regularizer (full-batch, pairwise losses): weight (0 = off), view noise,
    # InfoNCE temperature, and the layer whose (noisy) output is contrasted with the final embedding
    cl_weight: float = 0.0
    cl_eps: float = 0.1
    cl_temp: float = 0.2
    cl_layer: int = 1
    features: bool = True
    text_features: bool = False
    edge_types: list[str] | None = None  # relation names to keep besides the interactions
    # sage: add CO_LISTENED edges from each artist (user) to its k most similar ones by cosine over
    # the training interactions (0 = none)
    item_knn: int = 0
    user_knn: int = 0
    lr: float = 0.01
    transform_lr: float = 0.1  # learning rate of GNN weight matrices, as a fraction of lr
    reg: float = 1e-4
    batch_size: int = 4096
    epochs: int = 200
    eval_every: int = 2
    patience: int = 5
    # on a plateau (``patience`` validations without a better Recall@20): go back to the best
    # checkpoint and multiply the learning rates by ``lr_decay``, up to ``lr_decays`` times, then stop
    lr_decay: float = 0.1
    lr_decays: int = 0
    min_epochs: int = 0
    seed: int = 2020
    split_seed: int = 2020
    mode: ModeName = "full"
    fanouts: list[int] = field(default_factory=lambda: [10, 10])
    device: str = "auto"
    amp: bool = True
    ddp: bool = False
    resume: bool = False
    max_minutes: float | None = None
    eval_batch: int = 2048
    progress: bool = True
    threads: int = 0  # CPU threads per process (0: torch's default; 1 is fastest on a busy machine)
    mlflow: bool = False  # log to MLflow (also on when MUSICGRAPH_MLFLOW_URI is set; see musicgraph.tracking)

    def __post_init__(self) -> None:
        for name, allowed in literal_fields().items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"TrainConfig.{name} must be one of {', '.join(allowed)}; got {value!r}")


@cache
def literal_fields() -> dict[str, tuple[str, ...]]:
    """The :class:`TrainConfig` fields with a fixed set of values: field name -> allowed values."""
    hints = get_type_hints(TrainConfig)
    out: dict[str, tuple[str, ...]] = {}
    for f in fields(TrainConfig):
        hint = hints[f.name]
        args = [hint] if get_origin(hint) is Literal else [a for a in get_args(hint) if get_origin(a) is Literal]
        if args:
            out[f.name] = tuple(v for a in args for v in get_args(a))
    return out


# ---------------------------------------------------------------------------- distributed setup
def _dist_info() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA device ``local_rank`` when available, else CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return dev


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


# ------------------------------------------------------------------------------- data loading
def load_graph(cfg: TrainConfig, split_seed: int) -> tuple[TrainGraph, Split]:
    """The training view and split for ``cfg``, from the configured :class:`~musicgraph.gnn.source.GraphSource`
    (the embedded store, Neo4j, or the raw HetRec files)."""
    from musicgraph.config import get_settings
    from musicgraph.gnn.source import held_pairs, open_source

    settings = get_settings()
    with open_source(cfg.source, backend=cfg.backend, store_dir=Path(cfg.store) if cfg.store else None,
                     data_dir=Path(cfg.data_dir) if cfg.data_dir else None, settings=settings) as source:
        log.info("training graph from %r", source)
        split = hetrec_split(source.interactions(), seed=split_seed)
        data, keys = source.hetero(text=cfg.text_features, exclude_pairs=held_pairs(split))
    ets = None
    if cfg.edge_types is not None:
        ets = [et for et in data.edge_types if et[1] in cfg.edge_types or et[1].removeprefix("rev_") in cfg.edge_types]
    graph = make_train_graph(
        data, keys, split, edge_types=ets, features=cfg.features, item_knn=cfg.item_knn, user_knn=cfg.user_knn
    )
    return graph, split


# --------------------------------------------------------------------------------- the task
class LinkPredictionModel(nn.Module):
    """Model + link predictor; ``forward`` returns the loss of a (user, pos, neg) batch (DDP-friendly)."""

    def __init__(
        self,
        model: nn.Module,
        predictor: LinkPredictor,
        loss: str,
        reg: float,
        temperature: float = 0.2,
        cl_weight: float = 0.0,
        cl_temp: float = 0.2,
        cl_layer: int = 1,
    ):
        super().__init__()
        if loss not in ("bpr", "bce", "softmax", "multinomial"):
            raise ValueError(f"loss must be bpr, bce, softmax or multinomial, got {loss!r}")
        if cl_weight < 0:
            raise ValueError(f"cl_weight must be >= 0, got {cl_weight}")
        if cl_weight > 0 and not hasattr(model, "views"):
            raise ValueError(f"the contrastive loss needs a propagating model (lightgcn, sage), not {type(model).__name__}")
        if cl_weight > 0 and loss == "multinomial":
            raise ValueError("the contrastive loss applies to the pairwise losses (bpr, bce, softmax), not multinomial")
        self.model, self.predictor, self.loss_name, self.reg = model, predictor, loss, reg
        self.temperature = temperature
        self.cl_weight, self.cl_temp, self.cl_layer = cl_weight, cl_temp, cl_layer

    def embeddings(self, graph: Any) -> tuple[Tensor, Tensor]:
        """The ``(user, item)`` embedding matrices the model computes over ``graph``."""
        return self.model(graph)

    def forward(self, graph: Any, u: Tensor, p: Tensor, n: Tensor, sub: Any = None) -> Tensor:
        """Loss of positives ``(u[k], p[k])`` against negatives ``n[k]`` (shape ``(B,)`` or ``(B, K)``).

        With the ``multinomial`` loss, ``u`` holds the batch's users, ``p`` their training items and
        ``n`` the row in ``u`` of each of those items: every item competes with all items.
        """
        if self.loss_name == "multinomial":
            return self.multinomial(graph, u, p, n)
        cl = None
        if sub is None and self.cl_weight > 0:
            users, items, vu, vi = self.model.views(graph, self.cl_layer)
            eu, ep, en = users[u], items[p], items[n]
            uu, ii = torch.unique(u), torch.unique(p)
            cl = info_nce(users[uu], vu[uu], self.cl_temp) + info_nce(items[ii], vi[ii], self.cl_temp)
        elif sub is None:
            users, items = self.model(graph)
            eu, ep, en = users[u], items[p], items[n]
        else:  # mini-batch: ``sub`` is a SampledGraph, u/p/n are local seed positions already mapped
            out = self.model.encode(sub.n_id, sub.edge_index, sub.x, targets={self.model.user_type, self.model.item_type})
            eu, ep, en = out[self.model.user_type][u], out[self.model.item_type][p], out[self.model.item_type][n]
        pos = self.predictor(eu, ep).float()
        neg = (self.predictor(eu[:, None, :].expand_as(en), en) if en.dim() == 3 else self.predictor(eu, en)).float()
        if self.loss_name == "bpr":
            loss = bpr_loss(pos[:, None] if neg.dim() == 2 else pos, neg)
        elif self.loss_name == "bce":
            loss = bce_loss(pos, neg)
        else:
            loss = softmax_loss(pos, neg if neg.dim() == 2 else neg[:, None], self.temperature)
        if self.reg > 0:
            ego = self.model.ego(u, p) + self.model.ego(u, n.reshape(-1))[1:] if sub is None else [eu, ep, en]
            loss = loss + self.reg * l2_reg([e.float() for e in ego], len(u))
        if cl is not None:
            loss = loss + self.cl_weight * cl
        return loss


    def multinomial(self, graph: Any, u: Tensor, items_pos: Tensor, row: Tensor) -> Tensor:
        """Softmax over all items per user (Mult-VAE's likelihood), averaged over positive pairs.

        One score matrix per batch of users (a dense matrix product) instead of gathered negatives:
        on a small catalogue this is cheaper than sampling and uses every item as a negative.
        """
        users, items = self.model(graph)
        scores = self.predictor.all_items(users[u], items).float() / self.temperature
        lse = torch.logsumexp(scores, dim=1)
        loss = (lse[row] - scores[row, items_pos]).mean()
        if self.reg > 0:
            loss = loss + self.reg * l2_reg([e.float() for e in self.model.ego(u[row], items_pos)], len(row))
        return loss


def param_groups(task: nn.Module, lr: float, transform_scale: float) -> list[dict[str, Any]]:
    """Embeddings at ``lr``; weight matrices of GNN layers at ``lr * transform_scale``.

    Identity-initialized SAGE transforms that move as fast as the embeddings overfit within a
    few epochs on HetRec; a slower rate keeps them close to propagation while they adapt.
    """
    emb, other = [], []
    for name, p in task.named_parameters():
        (emb if ".emb." in f".{name}" or name.endswith("embedding.weight") or ".user." in name or ".item." in name
         or ".rel_scale." in name else other).append(p)
    groups = [{"params": emb, "lr": lr}]
    if other:
        groups.append({"params": other, "lr": lr * transform_scale})
    return groups


def sample_negatives(
    users: np.ndarray, num_items: int, train_codes: np.ndarray, rng: np.random.Generator, tries: int = 5
) -> np.ndarray:
    """One uniformly drawn item per user that is not among the user's training items (vectorized)."""
    neg = rng.integers(0, num_items, len(users))
    for _ in range(tries):
        codes = users.astype(np.int64) * num_items + neg
        pos = np.searchsorted(train_codes, codes)
        bad = (pos < len(train_codes)) & (train_codes[np.minimum(pos, len(train_codes) - 1)] == codes)
        if not bad.any():
            break
        neg[bad] = rng.integers(0, num_items, int(bad.sum()))
    return neg


def evaluate(task: LinkPredictionModel, graph: TrainGraph, split: Split, part: str, batch: int = 2048) -> dict[str, float]:
    """Full-sort metrics of ``part`` (valid or test) with the known items masked."""
    task.eval()
    with torch.no_grad():
        users, items = task.embeddings(graph)
        users, items = users.float(), items.float()
        metrics = full_sort_metrics(
            lambda u: task.predictor.all_items(users[u.to(users.device)], items),
            split.known_before(part),
            split.matrix(part),
            ks=(10, 20),
            batch_size=batch,
        )
    task.train()
    return metrics


# -------------------------------------------------------------------------------------- train
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run one training job; returns the summary written to ``result.json`` (rank 0).

    With MLflow tracking on (``MUSICGRAPH_MLFLOW_URI`` or ``--mlflow``, :mod:`musicgraph.tracking`) rank 0
    logs the configuration, per-epoch loss and validation metrics, the test and validation metrics of
    the best model, and ``config.json``, ``metrics.jsonl``, ``result.json`` as artifacts.

    Args:
        cfg: every option of the run; the run directory is ``cfg.out`` (default
            ``MUSICGRAPH_HOME/models/gnn/<model>-s<seed>``).

    Returns:
        The summary: model, seeds, best and run epochs, why training stopped, train/CPU/load seconds,
        device, world size, the ``test`` and ``valid`` metrics of the best epoch, the weights' digest
        (and the MLflow run id when tracked).

    Raises:
        ValueError: options that do not combine (a contrastive loss or the multinomial loss outside
            full-batch mode, mini-batches for a model that trains full-batch, an unknown mode).
    """
    from musicgraph.tracking import Tracker

    if _dist_info()[0] != 0:
        return _train(cfg, Tracker())
    name = f"{cfg.model}-s{cfg.seed}"
    with Tracker.start("musicgraph-gnn", run_name=name, params=asdict(cfg), enabled=cfg.mlflow) as tracker:
        result = _train(cfg, tracker)
        tracker.metrics({"test": result.get("test", {}), "valid": result.get("valid", {}),
                         "best_epoch": result.get("best_epoch", 0), "train_s": result.get("train_s", 0.0)})
        from musicgraph.config import get_settings

        out = Path(cfg.out) if cfg.out else get_settings().models_dir / "gnn" / name
        for artifact in ("config.json", "metrics.jsonl", "result.json"):
            tracker.artifact(out / artifact)
        if tracker.active:
            result["mlflow_run_id"] = tracker.run_id
        return result


def _train(cfg: TrainConfig, tracker: Any) -> dict[str, Any]:
    from musicgraph.config import get_settings

    rank, world, local_rank = _dist_info()
    if cfg.ddp and not dist.is_initialized():
        device = select_device(cfg.device, local_rank)
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        log.info("DDP: rank %d of %d, backend %s", rank, world, backend)
    device = select_device(cfg.device, local_rank)
    is_main = rank == 0
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif world > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    set_seed(cfg.seed)
    out = Path(cfg.out) if cfg.out else get_settings().models_dir / "gnn" / f"{cfg.model}-s{cfg.seed}"
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    t0 = time.perf_counter()
    # Rank 0 first: it may build the store's projection and the HeteroData cache, which the
    # other ranks then read instead of racing to write the same files.
    distributed = world > 1 and dist.is_initialized()
    if distributed and rank != 0:
        dist.barrier()
    graph, split = load_graph(cfg, cfg.split_seed)
    if distributed and rank == 0:
        dist.barrier()
    graph.check_no_leak(split)
    load_s = time.perf_counter() - t0
    cpu_graph = graph
    graph = graph.to(device)
    model = build_model(
        cfg.model, graph, dim=cfg.dim, layers=cfg.layers, aggr=cfg.aggr, rel_aggr=cfg.rel_aggr, init=cfg.init, combine=cfg.combine,
        activation=cfg.activation, dropout=cfg.dropout, features=cfg.features, rel_scale=cfg.rel_scale,
        rel_scale_init=cfg.rel_scale_init,
    )
    if cfg.cl_weight > 0:
        if cfg.mode != "full":
            raise ValueError("--cl-weight (contrastive loss) needs --mode full")
        model.noise_eps = cfg.cl_eps
    task = LinkPredictionModel(
        model, LinkPredictor(cfg.dim, cfg.predictor), cfg.loss, cfg.reg, cfg.temperature,
        cfg.cl_weight, cfg.cl_temp, cfg.cl_layer,
    ).to(device)
    opt = torch.optim.Adam(param_groups(task, cfg.lr, cfg.transform_lr), lr=cfg.lr)
    # train_s: wall seconds of training + validation; cpu_s: this process's CPU seconds over the same
    # work (all threads), which does not grow with other jobs' load on a shared machine
    state = {"epoch": 0, "best": -1.0, "best_epoch": -1, "bad": 0, "train_s": 0.0, "cpu_s": 0.0}
    if cfg.resume and (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", map_location=device, weights_only=False)
        task.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state.update(ck["state"])
        log.info("resumed from %s at epoch %d", out / "last.pt", state["epoch"])
    net: nn.Module = task
    if world > 1 and dist.is_initialized():
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            task, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=cfg.model.startswith("sage")
        )

    sampler = None
    if cfg.mode == "minibatch":
        if not cfg.model.startswith("sage"):
            raise ValueError("--mode minibatch applies to GraphSAGE models; mf/lightgcn train full-batch")
        from musicgraph.gnn.sampler import make_sampler

        sampler = make_sampler(
            {et: v for et, v in cpu_graph.edge_index.items() if et in model.edge_types},
            {t: int(v.numel()) for t, v in cpu_graph.n_id.items()},
            cfg.fanouts,
            seed=cfg.seed + rank,
        )
    elif cfg.mode != "full":
        raise ValueError(f"unknown mode {cfg.mode!r}; expected full or minibatch")

    tu, ti = split.train
    train_codes = np.unique(tu.astype(np.int64) * split.num_items + ti)
    listwise = cfg.loss == "multinomial"
    if listwise and sampler is not None:
        raise ValueError("--loss multinomial scores every item, so it needs --mode full")
    train_csr = split.matrix("train") if listwise else None
    # the sampler draws training pairs (BPR/BCE/softmax) or users (multinomial)
    pairs = torch.utils.data.TensorDataset(torch.arange(split.num_users if listwise else len(tu)))
    dsampler = torch.utils.data.distributed.DistributedSampler(
        pairs, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed
    )
    per_rank_batch = max(1, cfg.batch_size // world)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    log_path = out / "metrics.jsonl"
    rng = np.random.default_rng(cfg.seed * 1000 + rank)
    deadline = None if cfg.max_minutes is None else time.perf_counter() + 60 * cfg.max_minutes

    from tqdm.auto import tqdm

    bar = tqdm(range(state["epoch"], cfg.epochs), desc=f"{cfg.model}", disable=not (cfg.progress and is_main))
    stop = False
    for epoch in bar:
        te, ce = time.perf_counter(), time.process_time()
        dsampler.set_epoch(epoch)
        idx = np.fromiter(iter(dsampler), np.int64)
        total, steps = 0.0, 0
        for start in range(0, len(idx), per_rank_batch):
            b = idx[start : start + per_rank_batch]
            if train_csr is not None:
                rows = train_csr[b]
                row = np.repeat(np.arange(len(b)), np.diff(rows.indptr))
                loss = net(graph, *(torch.as_tensor(a, device=device) for a in (b, rows.indices.astype(np.int64), row)))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach())
                steps += 1
                continue
            bu, bp = tu[b], ti[b]
            bn = sample_negatives(np.repeat(bu, cfg.num_neg), split.num_items, train_codes, rng)
            if cfg.num_neg > 1:
                bn = bn.reshape(len(bu), cfg.num_neg)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                if sampler is None:
                    loss = net(graph, *(torch.as_tensor(a, device=device) for a in (bu, bp, bn)))
                else:
                    um = cpu_graph.user_map.numpy()
                    im = cpu_graph.item_map.numpy()
                    sub = sampler.sample(
                        {graph.user_type: um[bu], graph.item_type: np.concatenate([im[bp], im[bn.reshape(-1)]])}, cpu_graph.x
                    )
                    n = len(b)
                    su = sub.seed_pos[graph.user_type].to(device)
                    si = sub.seed_pos[graph.item_type].to(device)
                    sub.n_id = {t: v.to(device) for t, v in sub.n_id.items()}
                    sub.edge_index = {t: v.to(device) for t, v in sub.edge_index.items()}
                    sub.x = None if sub.x is None else {t: v.to(device) for t, v in sub.x.items()}
                    sn = si[n:] if cfg.num_neg == 1 else si[n:].reshape(n, cfg.num_neg)
                    loss = net(graph, su, si[:n], sn, sub)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += float(loss.detach())
            steps += 1
        epoch_s = time.perf_counter() - te
        state["train_s"] += epoch_s
        state["epoch"] = epoch + 1
        row: dict[str, Any] = {"epoch": epoch + 1, "loss": total / max(steps, 1), "epoch_s": round(epoch_s, 4)}
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            flag = torch.zeros(1, device=device)
            if is_main:
                tv = time.perf_counter()
                m = evaluate(task, graph, split, "valid", cfg.eval_batch)
                row.update({f"valid_{k}": v for k, v in m.items() if k != "users"})
                row["eval_s"] = round(time.perf_counter() - tv, 4)
                state["train_s"] += row["eval_s"]  # wall time to quality includes validation
                if m["recall@20"] > state["best"]:
                    state.update(best=m["recall@20"], best_epoch=epoch + 1, bad=0)
                    torch.save({"model": task.state_dict(), "epoch": epoch + 1}, out / "best.pt")
                else:
                    state["bad"] += 1
                if state["bad"] >= cfg.patience and epoch + 1 >= cfg.min_epochs:
                    flag += 2 if state.get("decays", 0) < cfg.lr_decays else 1  # 2: decay, 1: stop
                bar.set_postfix(loss=f"{row['loss']:.4f}", r20=f"{m['recall@20']:.4f}", best=f"{state['best']:.4f}")
            if world > 1 and dist.is_initialized():
                dist.broadcast(flag, 0)
            if flag.item() == 2:
                # plateau: every rank goes back to the best weights with smaller steps (moments restart)
                if is_main:
                    task.load_state_dict(torch.load(out / "best.pt", map_location=device, weights_only=False)["model"])
                if world > 1 and dist.is_initialized():
                    for t in task.state_dict().values():
                        dist.broadcast(t, 0)
                for group in opt.param_groups:
                    group["lr"] *= cfg.lr_decay
                opt.state.clear()
                state["decays"] = state.get("decays", 0) + 1
                state["bad"] = 0
                row["lr_decay"] = state["decays"]
                if is_main:
                    log.info("plateau at epoch %d: restart from epoch %d at lr x %g", epoch + 1,
                             state["best_epoch"], cfg.lr_decay ** state["decays"])
            stop = bool(flag.item() == 1)
        if stop:
            state["stop_reason"] = "early stopping"
        elif deadline is not None and time.perf_counter() > deadline:
            log.info("time budget of %.1f min reached", cfg.max_minutes)
            state["stop_reason"] = "time budget"
            stop = True
        state["cpu_s"] = state.get("cpu_s", 0.0) + time.process_time() - ce
        row["elapsed_s"] = round(state["train_s"], 3)
        row["cpu_s"] = round(state["cpu_s"], 3)
        if is_main:
            with log_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            tracker.metrics(row, step=epoch + 1)
            if "eval_s" in row or stop or epoch + 1 == cfg.epochs:  # resume points: evaluated epochs
                torch.save({"model": task.state_dict(), "opt": opt.state_dict(), "state": state}, out / "last.pt")
        if stop:
            break
    bar.close()
    digest = weights_digest(task)  # after the last step, before loading the best checkpoint

    result: dict[str, Any] = {}
    if is_main:
        if (out / "best.pt").exists():
            task.load_state_dict(torch.load(out / "best.pt", map_location=device, weights_only=False)["model"])
        test = evaluate(task, graph, split, "test", cfg.eval_batch)
        valid = evaluate(task, graph, split, "valid", cfg.eval_batch)
        result = {
            "model": cfg.model,
            "seed": cfg.seed,
            "split_seed": cfg.split_seed,
            "best_epoch": state["best_epoch"],
            "epochs_run": state["epoch"],
            "stop_reason": state.get("stop_reason", "max epochs"),
            "train_s": round(state["train_s"], 2),
            "cpu_s": round(state.get("cpu_s", 0.0), 2),
            "load_s": round(load_s, 2),
            "device": str(device),
            "world_size": world,
            "test": test,
            "valid": valid,
        }
        (out / "result.json").write_text(json.dumps(result, indent=2))
        save_embeddings(task, graph, split, out / "embeddings.pt")
        log.info("%s test: %s", cfg.model, format_metrics(test))
    if world > 1 and dist.is_initialized():
        dist.barrier()
    result["weights_digest"] = digest
    result["rank"] = rank
    return result


def save_embeddings(task: LinkPredictionModel, graph: TrainGraph, split: Split, path: Path) -> None:
    """Final embeddings as ``{"embeddings": {node type: (keys, float tensor)}, "dim": d}``.

    GraphSAGE embeds every node type of the graph; MF and LightGCN the users and items.
    """
    task.eval()
    emb: dict[str, tuple[list[str], Tensor]] = {}
    with torch.no_grad():
        model = task.model
        if hasattr(model, "encode") and graph.node_keys is not None:
            outs = model.encode(graph.n_id, graph.edge_index, graph.x)
            for t, v in outs.items():
                if t in graph.node_keys and len(graph.node_keys[t]) == v.shape[0] and v.shape[0] > 0:
                    emb[t] = ([str(k) for k in graph.node_keys[t]], v.float().cpu())
        else:
            users, items = model(graph)
            emb[graph.user_type] = ([str(k) for k in split.user_keys], users.float().cpu())
            emb[graph.item_type] = ([str(k) for k in split.item_keys], items.float().cpu())
    if task.predictor.kind == "cos":  # stored normalized: the dot product of stored vectors is the score
        emb = {t: (k, torch.nn.functional.normalize(v, dim=-1)) for t, (k, v) in emb.items()}
    dim = next(iter(emb.values()))[1].shape[1]
    torch.save({"embeddings": emb, "dim": int(dim), "predictor": task.predictor.kind}, path)


def weights_digest(module: nn.Module) -> str:
    """SHA-1 of every parameter's bytes (checks that DDP replicas hold identical weights)."""
    import hashlib

    h = hashlib.sha1()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------ command line
def split_preset(argv: list[str]) -> tuple[TrainConfig, list[str]]:
    """The settings ``--preset NAME`` names (:mod:`musicgraph.gnn.presets`, by table name or its slug;
    the defaults without one) and the other options, which override them wherever they stand."""
    if "--preset" not in argv:
        return TrainConfig(), argv
    from musicgraph.gnn.presets import PRESETS, find_preset

    k = argv.index("--preset")
    if k + 1 >= len(argv):
        raise SystemExit("--preset needs a name; known: " + ", ".join(repr(n) for n in PRESETS))
    key = find_preset(argv[k + 1])
    if key is None:
        raise SystemExit(f"unknown preset {argv[k + 1]!r}; known: " + ", ".join(repr(n) for n in PRESETS))
    return PRESETS[key], argv[:k] + argv[k + 2 :]


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Command-line options -> :class:`TrainConfig` (``--preset NAME`` expands to a named preset)."""
    import sys

    base, argv = split_preset(list(sys.argv[1:] if argv is None else argv))
    p = argparse.ArgumentParser(
        prog="python -m musicgraph.gnn.train",
        description=__doc__.split("\n\n")[0],
        epilog="--preset NAME: the settings of a quality-table row (musicgraph.gnn.presets), e.g. "
        "--preset 'GraphSAGE + KG (tags, friends) + cosine softmax, dim 128'; the other options given override it.",
    )
    defaults = asdict(base)  # the preset's values (or the defaults) unless an option is given
    for name, value in asdict(TrainConfig()).items():
        flag, default = "--" + name.replace("_", "-"), defaults[name]
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif name == "fanouts":
            p.add_argument(flag, type=int, nargs="+", default=default)
        elif name == "edge_types":
            p.add_argument(flag, nargs="+", default=default)
        elif name in ("max_minutes",):
            p.add_argument(flag, type=float, default=default)
        elif name in literal_fields():
            p.add_argument(flag, choices=literal_fields()[name], default=default)
        elif name in ("store", "data_dir", "out"):
            p.add_argument(flag, default=default)
        else:
            p.add_argument(flag, type=type(value), default=default)
    return TrainConfig(**vars(p.parse_args(argv)))


def main(argv: list[str] | None = None) -> None:
    """``python -m musicgraph.gnn.train``: options (:func:`parse_args`) -> :func:`train`; the log level
    comes from the settings (``MUSICGRAPH_LOG_LEVEL``)."""
    from musicgraph.config import get_settings

    logging.basicConfig(level=get_settings().log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = parse_args(argv)
    try:
        result = train(cfg)
        if result:
            print(json.dumps({"model": result["model"], "test": result["test"], "train_s": result["train_s"]}))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
