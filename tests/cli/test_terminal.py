"""Terminal safety (issue 15): escape sequences, direction overrides and Rich markup in user data are
printed as visible text, in tables, panels, errors and logs."""

from __future__ import annotations

import json
import logging

import pytest
from rich.console import Console
from typer.testing import CliRunner

from musicgraph.cli import app
from musicgraph.cli.terminal import SafeLogFormatter, plain, print_error, safe
from musicgraph.config import reset_settings

EVIL_ARTIST = "Evil\x1b]0;pwned\x07 [red]Band[/red] \u202eolleh\x1b[2J"
EVIL_TITLE = "Song [Live] \x1b[31mred\x1b[0m\r overwritten"


def test_plain_and_safe():
    assert plain("a\x1b[31mb") == "a\\x1b[31mb"
    assert plain("x\u202ey\u2066z") == "x\\u202ey\\u2066z"
    assert plain("one\ntwo") == "one\\x0atwo" and plain("one\ntwo", multiline=True) == "one\ntwo"
    assert safe("[red]x[/red] [live]") == "\\[red]x\\[/red] \\[live]"
    console = Console(record=True, width=40, color_system=None)
    console.print(safe(EVIL_TITLE + " [live]"))
    shown = console.export_text()
    assert "[Live]" in shown and "[live]" in shown and "\x1b" not in shown and "\\x1b[31m" in shown


def test_error_is_one_unwrapped_line():
    console = Console(record=True, width=30, color_system=None)
    print_error(console, "x" * 200 + "\nsecond line [bold]y[/bold] \x1b[2J")
    text = console.export_text()
    assert text.count("\n") == 1 and text.startswith("error: ")
    assert "[bold]y[/bold]" in text and "\\x1b[2J" in text


def test_log_lines_are_safe():
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "name %s", (EVIL_ARTIST,), None)
    line = SafeLogFormatter("%(message)s").format(record)
    assert "\x1b" not in line and "\u202e" not in line and "\\u202e" in line


@pytest.fixture
def env(tmp_path, monkeypatch, fixture_data_dir):
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.delenv("MUSICGRAPH_NEO4J_URI", raising=False)
    reset_settings()
    yield tmp_path
    reset_settings()


def test_catalog_names_are_escaped_in_recommendation_tables(env):
    runner = CliRunner()
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    f = env / "evil.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"type": "artist", "name": EVIL_ARTIST, "tags": {"dream pop": 5}},
        {"artist": EVIL_ARTIST, "title": EVIL_TITLE, "genres": ["dream pop"]},
        {"artist": EVIL_ARTIST, "title": "Second [bold]Song[/bold] [live]", "genres": ["dream pop"]},
    ]) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["catalog", "add", str(f)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["recommend", "--tag", "dream pop", "--k", "10", "--include-known"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out
    assert "\\x1b" in out and "\\u202e" in out  # visible instead of interpreted
    assert "[Live]" in out and "[red]Band[/red]" in out and "[live]" in out  # markup printed, not swallowed
    res = runner.invoke(app, ["recommend", "--artist", EVIL_ARTIST + " typo"])
    assert res.exit_code == 2
    assert "\x1b" not in res.output and "\\x1b" in res.output and len(res.output.strip().splitlines()) == 1
