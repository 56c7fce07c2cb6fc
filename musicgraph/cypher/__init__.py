"""Packaged Cypher: the Neo4j schema (``schema.cypher``) and the exploration pack (``explore/*.cypher``).

Every exploration file is written to be pasted into Neo4j Browser as is::

    // Similar artists by co-listening                      <- title (first comment line)
    // Which artists do the listeners of $artist also ...   <- description (further comment lines)
    :param artist => 'radiohead';                           <- default parameters, Browser syntax
    :param limit => 10;
    MATCH ... RETURN ...;                                   <- one read-only statement

:func:`load_query` parses a file into a :class:`CypherQuery` (title, description, default parameters
as Python values, statement text) for ``musicgraph cypher run`` and the tests; :func:`schema_statements`
splits ``schema.cypher`` into statements for :class:`~musicgraph.graph.neo4j_store.Neo4jStore`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "CypherQuery",
    "explore_queries",
    "load_query",
    "parse_cypher_file",
    "parse_literal",
    "schema_statements",
    "split_statements",
]

_PARAM_LINE = re.compile(r"^:param\s+([A-Za-z_][A-Za-z0-9_]*)\s*=>\s*(.+?)\s*;?\s*$")
_PARAM_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(slots=True)
class CypherQuery:
    """One parsed ``.cypher`` file.

    Attributes:
        name: file stem (``similar_artists``).
        title: first header comment line.
        description: the other header comment lines, joined.
        params: default parameters from the ``:param`` lines, as Python values.
        text: the statement, without comments, ``:param`` lines or the final ``;``.
        source: the file's full text.
    """

    name: str
    title: str
    description: str
    params: dict[str, Any]
    text: str
    source: str = field(repr=False, default="")

    def required_params(self) -> list[str]:
        """Parameter names the statement uses (``$name``), in order of first use."""
        return list(dict.fromkeys(_PARAM_REF.findall(_strip_strings(self.text))))


def _strip_strings(text: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", text)


# ------------------------------------------------------------------ literals
class _LiteralParser:
    """A parser for Cypher literals as used in ``:param`` lines: strings, numbers, booleans, null,
    lists and maps (keys bare or quoted)."""

    _TOKEN = re.compile(
        r"""\s*(?:
            (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
          | (?P<num>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
          | (?P<word>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
          | (?P<punct>[\[\]{}:,])
        )""",
        re.VERBOSE,
    )

    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        stripped = text.strip()
        while pos < len(stripped):
            match = self._TOKEN.match(stripped, pos)
            if not match or match.end() == pos:
                raise ValueError(f"cannot parse Cypher literal {text!r} at {stripped[pos:pos + 20]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
            while pos < len(stripped) and stripped[pos].isspace():
                pos += 1
        self.i = 0

    def _next(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise ValueError(f"unexpected end of Cypher literal {self.text!r}")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Any:
        value = self._value()
        if self.i != len(self.tokens):
            raise ValueError(f"trailing text in Cypher literal {self.text!r}")
        return value

    def _value(self) -> Any:
        kind, tok = self._next()
        if kind == "str":
            body = tok[1:-1]
            return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
        if kind == "num":
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if kind == "word":
            low = tok.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
            raise ValueError(f"unsupported token {tok!r} in Cypher literal {self.text!r}")
        if tok == "[":
            items: list[Any] = []
            if self._peek() == ("punct", "]"):
                self._next()
                return items
            while True:
                items.append(self._value())
                _, sep = self._next()
                if sep == "]":
                    return items
                if sep != ",":
                    raise ValueError(f"expected ',' or ']' in {self.text!r}")
        if tok == "{":
            out: dict[str, Any] = {}
            if self._peek() == ("punct", "}"):
                self._next()
                return out
            while True:
                kkind, key = self._next()
                if kkind == "str":
                    key = key[1:-1]
                elif kkind == "word":
                    key = key.strip("`")
                else:
                    raise ValueError(f"bad map key {key!r} in {self.text!r}")
                if self._next() != ("punct", ":"):
                    raise ValueError(f"expected ':' after map key {key!r} in {self.text!r}")
                out[key] = self._value()
                _, sep = self._next()
                if sep == "}":
                    return out
                if sep != ",":
                    raise ValueError(f"expected ',' or '}}' in {self.text!r}")
        raise ValueError(f"unexpected {tok!r} in Cypher literal {self.text!r}")


def parse_literal(text: str) -> Any:
    """A Cypher literal (``'text'``, ``42``, ``[0.5, 0.8]``, ``{k: 'v'}``, ``true``, ``null``) as Python."""
    return _LiteralParser(text).parse()


# -------------------------------------------------------------------- files
def split_statements(text: str) -> list[str]:
    """Split Cypher text into statements at ``;`` outside strings, dropping ``//`` comment lines."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("//")]
    body = "\n".join(lines)
    out: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(body):
                current.append(body[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
            current.append(ch)
        elif ch == ";":
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    out.append("".join(current).strip())
    return [s for s in out if s]


def parse_cypher_file(source: str, name: str = "query") -> CypherQuery:
    """Parse the header comments, ``:param`` lines and the single statement of an exploration file."""
    header: list[str] = []
    params: dict[str, Any] = {}
    body: list[str] = []
    in_header = True
    for lineno, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("//"):
            if in_header:
                header.append(stripped[2:].strip())
            continue
        if stripped.startswith(":param"):
            match = _PARAM_LINE.match(stripped)
            if not match:
                raise ValueError(f"{name}:{lineno}: expected `:param name => <literal>;`, got {stripped!r}")
            try:
                params[match.group(1)] = parse_literal(match.group(2))
            except ValueError as exc:
                raise ValueError(f"{name}:{lineno}: {exc}") from exc
            in_header = False
            continue
        if stripped:
            in_header = False
        body.append(line)
    statements = split_statements("\n".join(body))
    if len(statements) != 1:
        raise ValueError(f"{name}: expected exactly one Cypher statement, found {len(statements)}")
    header = [h for h in header if h]
    if not header:
        raise ValueError(f"{name}: missing the header comment (// title, // what it answers)")
    return CypherQuery(
        name=name,
        title=header[0],
        description=" ".join(header[1:]),
        params=params,
        text=statements[0],
        source=source,
    )


def _explore_dir() -> Any:
    return resources.files("musicgraph.cypher").joinpath("explore")


def explore_queries() -> list[CypherQuery]:
    """Every packaged exploration query, sorted by name."""
    out = []
    for entry in sorted(_explore_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".cypher"):
            out.append(parse_cypher_file(entry.read_text(encoding="utf-8"), entry.name.removesuffix(".cypher")))
    return out


#: Largest ``.cypher`` file :func:`load_query` reads (bytes).
MAX_QUERY_FILE_BYTES = 1024 * 1024
_QUERY_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def load_query(name_or_path: str | Path) -> CypherQuery:
    """A packaged exploration query by name (``similar_artists``) or a ``.cypher`` file by path.

    An argument that looks like a path (it has a directory part, or ends in ``.cypher``) must be an
    existing, readable ``.cypher`` file of at most 1 MiB in UTF-8; it never falls back to a packaged query
    of the same name. Anything else must be a packaged query's name.

    Raises:
        FileNotFoundError: no such file, or no packaged query of that name (the message lists them).
        ValueError: not a ``.cypher`` file, too large, not UTF-8, or not a valid exploration file.
    """
    text = str(name_or_path)
    path = Path(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.endswith(".cypher"):
        if path.suffix != ".cypher":
            raise ValueError(f"{path}: not a .cypher file")
        if not path.is_file():
            raise FileNotFoundError(f"no Cypher file at {path}")
        size = path.stat().st_size
        if size > MAX_QUERY_FILE_BYTES:
            raise ValueError(f"{path}: {size:,} bytes; Cypher files are limited to {MAX_QUERY_FILE_BYTES:,} bytes")
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        return parse_cypher_file(source, path.stem)
    names = ", ".join(q.name for q in explore_queries())
    entry = _explore_dir().joinpath(f"{text}.cypher") if _QUERY_NAME.match(text) else None
    if entry is None or not entry.is_file():
        raise FileNotFoundError(f"no packaged Cypher query {text!r} (give a path to a .cypher file, or one of: {names})")
    return parse_cypher_file(entry.read_text(encoding="utf-8"), text)


def schema_statements() -> list[str]:
    """The statements of the packaged ``schema.cypher`` (parameter: ``$embedding_dim``)."""
    text = resources.files("musicgraph.cypher").joinpath("schema.cypher").read_text(encoding="utf-8")
    return split_statements(text)
