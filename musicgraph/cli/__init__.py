"""The ``musicgraph`` command line.

Core commands live in :mod:`musicgraph.cli.core`; each product area adds its commands from its own
module (``musicgraph/cli/<area>.py`` defining ``register(app)``), imported here. Modules must keep
their imports of heavy libraries (torch, transformers, faiss) inside the command functions.
Options and arguments are declared one way, ``name: Annotated[T, typer.Option(...)] = default``
(shared ones such as ``StoreOpt``/``JsonOpt`` in :mod:`musicgraph.cli.core`); tests/cli/test_option_style.py
refuses the old style, a ``typer.Option(default, ...)`` call as the parameter's default.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["COMMAND_MODULES", "app", "main"]

app = typer.Typer(
    name="musicgraph",
    help="Knowledge-graph multi-hop music recommendation: ingest, recommend, retrieve, ask.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Modules that add commands; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "musicgraph.cli.core",
    "musicgraph.cli.neo4j",
    "musicgraph.cli.retrieval",
    "musicgraph.cli.gnn",
    "musicgraph.cli.rag",
    "musicgraph.cli.evaluation",
    "musicgraph.cli.enrich",
    "musicgraph.cli.catalog",
    "musicgraph.cli.features",
    "musicgraph.cli.lm",
    "musicgraph.cli.me",
    "musicgraph.cli.trends",
    "musicgraph.cli.serve",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that area has no commands yet
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Entry point of the ``musicgraph`` console script."""
    from musicgraph.cli.terminal import install_safe_logging
    from musicgraph.config import get_settings

    # log lines carry no secret and no terminal control character (musicgraph.cli.terminal)
    install_safe_logging(get_settings().log_level.upper())
    app()
