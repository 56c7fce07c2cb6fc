"""RAG commands: ``musicgraph ask``, ``musicgraph chat`` and ``musicgraph rag finetune``.

Heavy libraries (torch, transformers) are imported only inside the commands that need them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from musicgraph.rag.ask import Answer

log = logging.getLogger(__name__)

rag_app = typer.Typer(help="RAG generator: train the local T5.", no_args_is_help=True)

BACKEND_HELP = "auto (own T5 when trained, else template) | best | fast | template | seq2seq | t5-local | smollm2 | lm"


def _store() -> Any:
    from musicgraph.graph import open_store

    store = open_store()
    if store.is_empty():
        raise typer.BadParameter("the graph store is empty: run `musicgraph ingest` first")
    return store


def print_answer(answer: Answer, show_reasons: bool = True, show_evidence: bool = False) -> None:
    """Print an answer, its cited songs with reasons, and timings."""
    from rich.console import Console
    from rich.panel import Panel

    from musicgraph.cli.terminal import safe

    console = Console()
    console.print(Panel(safe(answer.text, multiline=True), title=safe(f"[{answer.backend}] {answer.question}"),
                        border_style="green"))
    if answer.recommendations and answer.backend != "explain":
        console.print("[bold]Cited:[/]")
        for rec in answer.recommendations:
            console.print(f" {safe(f'[{rec.number}]')} {safe(rec.result.display())}  [dim]({safe(rec.result.id)})[/]")
            if show_reasons:
                for reason in rec.reasons:
                    console.print(f"     [dim]- {safe(reason)}[/]")
    g = answer.grounding
    if g is not None and g.removed:
        console.print(f"[yellow]grounding removed {len(g.removed)} unsupported or repeated part(s)[/]" +
                      (" after regenerating" if answer.regenerated else ""))  # fmt: skip
    if answer.fallback:
        console.print("[yellow]the model cited no candidate; the template answer is shown[/]")
    if show_evidence and answer.evidence is not None:
        console.print(Panel(safe(answer.evidence.text, multiline=True), title="evidence", border_style="dim"))
    if answer.timings:
        console.print("[dim]" + "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in answer.timings.items()) + "[/]")


def ask_cmd(
    question: Annotated[str, typer.Argument(help="What to listen to, in words.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Number of songs.")] = 5,
    backend: Annotated[str, typer.Option("--backend", "-b", help=BACKEND_HELP)] = "auto",
    model: Annotated[str | None, typer.Option(
        "--model", help="Model directory/id (seq2seq, t5-local) or GGUF file.")] = None,
    explain_dir: Annotated[Path | None, typer.Option(
        "--explain-dir", help="Write radar charts and subgraph images here.")] = None,
    evidence: Annotated[bool, typer.Option("--evidence", help="Also print the evidence block.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    me: Annotated[bool, typer.Option(
        "--me", help="For you: your imported history seeds the walk, known songs are left out.")] = False,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="Which imported profile --me means (default: the only one).")] = None,
    export: Annotated[Path | None, typer.Option(
        "--export", help="Also write the cited songs as FILE.xspf, .m3u8 or .json.")] = None,
    spotify: Annotated[str | None, typer.Option(
        "--spotify", help="Also create or update this Spotify playlist.")] = None,
) -> None:
    """Answer a request in words with grounded, cited songs from the catalog."""
    from musicgraph.rag.ask import ask
    from musicgraph.rag.base import GeneratorError

    if not question.strip():
        raise typer.BadParameter("the question is empty", param_hint="QUESTION")
    store = _store()
    user = None
    if me:
        from musicgraph.graph.profile import ProfileError
        from musicgraph.me import resolve_profile

        try:
            user = resolve_profile(store, profile)
        except ProfileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    try:
        answer = ask(question, k=k, backend=backend, model=model, store=store, user=user)
    except GeneratorError as exc:
        from musicgraph.cli.terminal import one_line

        typer.echo(f"error: {one_line(exc)}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_answer(answer, show_evidence=evidence)
    if explain_dir is not None and answer.recommendations:
        from musicgraph.rag.explain import write_explanations

        files = write_explanations(answer, explain_dir)
        typer.echo(f"wrote {len(files)} explanation images to {explain_dir}", err=as_json)
    if export is not None or spotify is not None:
        from musicgraph.cli.core import CliError, fail
        from musicgraph.cli.export import export_results

        try:
            export_results([r.result for r in answer.recommendations], export, spotify, f"musicgraph: {question}",
                           request=question, err=as_json)
        except CliError as exc:
            fail(str(exc))


def chat_cmd(
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Number of songs per answer.")] = 5,
    backend: Annotated[str, typer.Option("--backend", "-b", help=BACKEND_HELP)] = "auto",
    model: Annotated[str | None, typer.Option("--model", help="Model directory/id or GGUF file.")] = None,
    explain_dir: Annotated[Path | None, typer.Option(
        "--explain-dir", help="Write pictures of each answer here.")] = None,
) -> None:
    """A multi-turn session: ask, then refine ("more upbeat", "no Radiohead", "more like the second
    one", "why that one?"); "reset" starts over, an empty line or "quit" ends."""
    from musicgraph.rag.base import GeneratorError
    from musicgraph.rag.chat import ChatSession

    session = ChatSession(k=k, backend=backend, model=model, store=_store())
    typer.echo('musicgraph chat: ask for music; refine with "more upbeat", "no <artist>", '
               '"more like the second one", "why that one?"; empty line or "quit" to end.')  # fmt: skip
    turn = 0
    while True:
        try:
            message = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not message or message.lower() in {"quit", "exit", "bye"}:
            break
        try:
            answer = session.send(message)
        except (ValueError, GeneratorError) as exc:
            from musicgraph.cli.terminal import one_line

            typer.echo(f"error: {one_line(exc)}", err=True)
            continue
        turn += 1
        print_answer(answer, show_reasons=False)
        if session.state.turns:
            changes = session.state.turns[-1][1].changes
            if changes:
                from musicgraph.cli.terminal import plain

                typer.echo(plain(f"(understood: {', '.join(changes)})"))
        if explain_dir is not None and answer.recommendations and answer.backend != "explain":
            from musicgraph.rag.explain import write_explanations

            write_explanations(answer, explain_dir / f"turn-{turn:02d}", session.state.targets())


@rag_app.command("finetune")
def finetune_cmd(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output directory (default MUSICGRAPH_HOME/models/t5-local).")] = None,
    pairs: Annotated[int, typer.Option("--pairs", min=10, help="Training pairs generated from the graph.")] = 1200,
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 3,
    max_minutes: Annotated[float, typer.Option("--max-minutes", min=0.1, help="Stop training after this long.")] = 8.0,
    d_model: Annotated[int, typer.Option("--d-model", min=16)] = 128,
    layers: Annotated[int, typer.Option("--layers", min=1)] = 2,
    base: Annotated[str | None, typer.Option(
        "--base", help="Fine-tune this local pretrained seq2seq model instead.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 13,
    threads: Annotated[int, typer.Option("--threads", min=0, help="CPU threads (0: auto).")] = 0,
) -> None:
    """Train the small local T5 on (request + evidence → answer) pairs generated from the graph."""
    from musicgraph.rag.base import GeneratorError
    from musicgraph.rag.generators import clear_cache
    from musicgraph.rag.t5_local import t5_local_dir
    from musicgraph.rag.t5_train import FinetuneConfig, finetune

    cfg = FinetuneConfig(pairs=pairs, epochs=epochs, max_minutes=max_minutes, d_model=d_model, num_layers=layers,
                         base=base, seed=seed, threads=threads)  # fmt: skip
    target = out or t5_local_dir()
    try:
        info = finetune(_store(), target, cfg, log_fn=typer.echo)
    except (ValueError, GeneratorError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    clear_cache()
    typer.echo(json.dumps({k: v for k, v in info.items() if k != "config"}, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``ask``, ``chat`` and ``rag finetune`` to the main app."""
    app.command("ask")(ask_cmd)
    app.command("chat")(chat_cmd)
    app.add_typer(rag_app, name="rag")
