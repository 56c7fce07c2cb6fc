"""Terminal safety: user data (names, titles, tags from catalog files, API answers, Cypher rows) is shown as
text, never interpreted.

* Control characters (ESC sequences that recolour, move the cursor or retitle the terminal, carriage
  returns that overwrite a line, NUL...) and Unicode direction overrides (RLO, LRI, ... which reorder
  what follows on the line) are replaced by visible escapes such as ``\\x1b`` and ``\\u202e`` (:func:`plain`).
* Rich markup in user text (``[red]``, ``[link=...]``, or any ``[...]`` Rich would swallow) is escaped
  (:func:`safe`), so ``[Live]`` in a title prints as ``[Live]``.
* Errors are printed as one line (:func:`print_error`), and log records go through :class:`SafeLogFormatter`,
  which also removes secrets (:mod:`musicgraph.redact`).

Use :func:`safe` for every piece of user data put into a Rich ``console.print``, ``Table`` or ``Panel``, and
:func:`plain` for ``typer.echo``/``print``. ``--json`` output is JSON (control characters escaped by
``json.dumps``) and is left alone.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rich.console import Console
from rich.markup import escape

from musicgraph.redact import redact

#: C0 and C1 controls except tab/newline, DEL, and the Unicode bidirectional controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(value: Any, multiline: bool = False) -> str:
    """``value`` as text with control characters and direction overrides made visible.

    Args:
        multiline: keep newlines and tabs (answers, evidence); otherwise they are escaped too, so a name
            stays on its line.
    """
    text = value if isinstance(value, str) else str(value)
    return (_UNSAFE if multiline else _UNSAFE_LINES).sub(_visible, text)


def safe(value: Any, multiline: bool = False) -> str:
    """:func:`plain`, then Rich markup escaped: for user data inside ``console.print``, tables and panels."""
    return escape(plain(value, multiline))


def one_line(message: Any) -> str:
    """A message on one line (newlines become ``" | "``), secrets redacted, unsafe characters made visible."""
    text = redact(str(message))
    text = " | ".join(part.strip() for part in text.splitlines() if part.strip()) or text.strip()
    return plain(text)


def print_error(console: Console, message: Any, prefix: str = "error:") -> None:
    """Print ``error: <message>`` as exactly one line (never wrapped, markup and controls escaped)."""
    console.print(f"[bold red]{prefix}[/] {escape(one_line(message))}", soft_wrap=True, highlight=False)


class SafeLogFormatter(logging.Formatter):
    """A formatter whose lines carry no secret and no terminal control character."""

    def format(self, record: logging.LogRecord) -> str:
        return plain(redact(super().format(record)), multiline=True)


def install_safe_logging(level: str | int = "INFO") -> None:
    """Configure the root logger for the CLI: one stderr handler with :class:`SafeLogFormatter`.

    Handlers added before (``logging.basicConfig`` elsewhere) get the safe formatter too.
    """
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        fmt = handler.formatter._fmt if handler.formatter is not None else None  # noqa: SLF001
        handler.setFormatter(SafeLogFormatter(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s"))
