"""The CLI declares every option and argument one way: ``name: Annotated[T, typer.Option(...)] = default``.

The old style (``name: T = typer.Option(default, ...)``) hides the default inside the call; a parameter
whose default is a call to ``typer.Option``/``typer.Argument`` fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import typer

import musicgraph.cli
from musicgraph.cli import app

CLI_DIR = Path(musicgraph.cli.__file__).parent
PARAM_FACTORIES = {"Option", "Argument"}


def _is_param_factory_call(node: ast.expr | None) -> bool:
    """``typer.Option(...)``, ``typer.Argument(...)`` or a bare ``Option(...)``/``Argument(...)``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr in PARAM_FACTORIES and isinstance(func.value, ast.Name) and func.value.id == "typer"
    return isinstance(func, ast.Name) and func.id in PARAM_FACTORIES


def old_style_parameters(source: str, filename: str = "<string>") -> list[str]:
    """``file:line name`` of every function parameter whose default is a typer.Option/Argument call.

    Args:
        source: Python source text.
        filename: The name shown in the result.

    Returns:
        One entry per offending parameter, in source order.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        found += [f"{filename}:{d.lineno} {a.arg}" for a, d in pairs if _is_param_factory_call(d)]
    return sorted(found, key=lambda s: (s.split(":")[0], int(s.split(":")[1].split()[0])))


def test_the_checker_finds_the_old_style() -> None:
    source = (
        "import typer\n"
        "from typer import Argument\n"
        "def a(x: int = typer.Option(1, '--x'), *, y: str = Argument(...)) -> None: ...\n"
        "async def b(z: bool = typer.Option(False)) -> None: ...\n"
        "def c(ok: 'Annotated[int, typer.Option(\"--ok\")]' = 1, plain: int = int('3')) -> None: ...\n"
    )
    assert old_style_parameters(source, "m.py") == ["m.py:3 x", "m.py:3 y", "m.py:4 z"]


def test_no_cli_module_uses_the_old_option_style() -> None:
    modules = sorted(CLI_DIR.glob("*.py"))
    assert len(modules) > 10  # the package itself, not an empty folder
    offenders = [hit for path in modules
                 for hit in old_style_parameters(path.read_text(encoding="utf-8"), path.name)]
    assert offenders == [], "use `name: Annotated[T, typer.Option(...)] = default`:\n" + "\n".join(offenders)


def test_every_command_builds_its_parameters() -> None:
    """Typer refuses an Annotated option that also passes its default to typer.Option (at build time)."""
    def walk(cmd: object, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        subs = getattr(cmd, "commands", {})
        return [path] + [p for name, sub in sorted(subs.items()) for p in walk(sub, (*path, name))]

    root = typer.main.get_command(app)
    paths = walk(root, ())
    assert ("cypher", "run") in paths and ("lm", "train") in paths and ("index", "build") in paths


def test_cypher_run_without_param_reports_the_missing_parameter(tmp_path, monkeypatch) -> None:
    """``--param`` defaults to None now (no shared ``[]``): no --param still means no parameters."""
    from typer.testing import CliRunner

    query = tmp_path / "needs_x.cypher"
    query.write_text("// Artist by name\n// Which artist is named $x\nMATCH (a:Artist {name: $x}) RETURN a.name;\n")
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MUSICGRAPH_NEO4J_URI", "bolt://127.0.0.1:1")  # never reached: refused before connecting
    res = CliRunner().invoke(app, ["cypher", "run", str(query)])
    assert res.exit_code == 2 and "missing parameter(s) x; pass --param name=value" in res.output, res.output
    res = CliRunner().invoke(app, ["cypher", "run", str(query), "--param", "x"])
    assert res.exit_code == 2 and "--param 'x': expected name=value" in res.output, res.output
