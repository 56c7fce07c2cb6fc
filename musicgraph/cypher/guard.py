"""The read-only guard for user Cypher (``musicgraph cypher run``, :meth:`Neo4jStore.query`).

User Cypher runs in a read transaction with a timeout, and the planner's query type must be read-only.
That alone lets through statements the planner calls "read" but that act on the server or the outside
world, so the statement text is checked first (:func:`check_user_cypher`; strings and comments are
blanked, so a keyword inside a string literal does not count). Refused:

* administration and transaction management: a statement starting with anything but ``MATCH``,
  ``OPTIONAL MATCH``, ``WITH``, ``UNWIND``, ``RETURN``, ``CALL``, ``SHOW``, ``LOAD CSV``, ``USE`` (after
  optional ``CYPHER``/``EXPLAIN``/``PROFILE`` prefixes), and ``TERMINATE`` anywhere (``SHOW TRANSACTIONS
  ... TERMINATE TRANSACTIONS`` included). ``SHOW ...`` stays allowed;
* procedures of ``db.*``/``dbms.*`` outside a small read-only list (:data:`ALLOWED_PROCEDURES`), e.g.
  ``dbms.killQuery``, ``db.clearQueryCaches``, ``dbms.setConfigValue``;
* APOC that reads files or URLs or runs Cypher given as text (:data:`DENIED_APOC`: ``apoc.load``,
  ``apoc.import``, ``apoc.export``, ``apoc.cypher``, ...), as procedure or function;
* ``LOAD CSV`` from anything but a literal ``file:///`` URL without ``..`` (the server resolves those
  inside its ``import/`` directory and refuses paths outside it); no ``http(s)``/``ftp`` URL and no URL
  computed from parameters or expressions.

The server configuration written by ``musicgraph neo4j start`` also loads only APOC namespaces without
file or network access (:data:`APOC_ALLOWLIST`), which guards Neo4j Browser as well.
"""

from __future__ import annotations

import re

from musicgraph.graph.store import StoreError

#: Statement heads a user query may start with.
ALLOWED_HEADS = frozenset({"MATCH", "OPTIONAL", "WITH", "UNWIND", "RETURN", "CALL", "SHOW", "LOAD"})
#: Keywords refused anywhere in a statement.
DENIED_KEYWORDS = frozenset({"TERMINATE"})
#: ``db.*``/``dbms.*`` procedures and functions a user query may call (read-only, no side effect).
ALLOWED_PROCEDURES = frozenset({
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.info", "db.ping",
    "db.schema.visualization", "db.schema.nodetypeproperties", "db.schema.reltypeproperties",
    "db.index.fulltext.querynodes", "db.index.fulltext.queryrelationships",
    "db.index.vector.querynodes", "db.index.vector.queryrelationships",
    "db.namefromelementid", "dbms.components", "dbms.procedures", "dbms.functions",
})
#: APOC namespaces that read files or URLs, write files, touch the system database or the configuration,
#: or run Cypher given as text (which would get around this guard).
DENIED_APOC = ("apoc.load", "apoc.import", "apoc.export", "apoc.cypher", "apoc.periodic", "apoc.do", "apoc.when",
               "apoc.case", "apoc.trigger", "apoc.custom", "apoc.systemdb", "apoc.log", "apoc.config",
               "apoc.bolt", "apoc.spatial", "apoc.static", "apoc.uuid", "apoc.ttl", "apoc.dv", "apoc.model",
               "apoc.es", "apoc.mongo", "apoc.couchbase", "apoc.redis", "apoc.s3", "apoc.gephi", "apoc.metrics")
#: ``dbms.security.procedures.allowlist`` of the local server: APOC without file or network access.
APOC_ALLOWLIST = (
    "apoc.agg.*,apoc.algo.*,apoc.any.*,apoc.atomic.*,apoc.coll.*,apoc.convert.*,apoc.create.*,apoc.date.*,"
    "apoc.diff.*,apoc.graph.*,apoc.hashing.*,apoc.help,apoc.json.*,apoc.label.*,apoc.lock.*,apoc.map.*,"
    "apoc.math.*,apoc.merge.*,apoc.meta.*,apoc.neighbors.*,apoc.node.*,apoc.nodes.*,apoc.number.*,apoc.path.*,"
    "apoc.refactor.*,apoc.rel.*,apoc.schema.*,apoc.scoring.*,apoc.search.*,apoc.stats.*,apoc.temporal.*,"
    "apoc.text.*,apoc.util.*,apoc.version,apoc.warmup.*"
)

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_BACKTICK = re.compile(r"`[^`]*`")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: a dotted name called as a procedure (after CALL) or a function (before "(")
_CALLED = re.compile(r"(\bCALL\s+)?\b([A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+)(\s*\()?", re.I)
_LOAD_CSV = re.compile(r"\bLOAD\s+CSV\b(?:\s+WITH\s+HEADERS\b)?\s+FROM\s", re.I)


class RefusedQueryError(StoreError):
    """User Cypher that the read-only guard refuses; nothing was run."""


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _code_only(cypher: str) -> str:
    """The statement with comments and string literals blanked out, backticks removed (same length)."""
    out = []
    i = 0
    n = len(cypher)
    while i < n:  # strings and comments in one left-to-right pass: "//" inside a string is not a comment
        ch = cypher[i]
        if ch in "'\"":
            m = _STRING.match(cypher, i)
            end = m.end() if m else n
            out.append(" " * (end - i))
            i = end
        elif cypher.startswith("//", i) or cypher.startswith("/*", i):
            m = _COMMENT.match(cypher, i)
            end = m.end() if m else n
            out.append(" " * (end - i))
            i = end
        elif ch == "`":  # a quoted name counts as the name itself (`apoc.load.json` is apoc.load.json)
            m = _BACKTICK.match(cypher, i)
            end = m.end() if m else n
            inner = re.sub(r"[^A-Za-z0-9_.]", "_", cypher[i + 1 : end - 1])
            out.append(" " + inner + " " * (end - i - 1 - len(inner)))
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _head(code: str) -> str:
    """The first clause keyword after ``CYPHER [options]``, ``EXPLAIN`` and ``PROFILE``."""
    tokens = code.split()
    i = 0
    while i < len(tokens):
        word = tokens[i].upper()
        if word == "CYPHER":  # CYPHER 5 runtime=slotted ...
            i += 1
            while i < len(tokens) and ("=" in tokens[i] or tokens[i][:1].isdigit()):
                i += 1
            continue
        if word in ("EXPLAIN", "PROFILE"):
            i += 1
            continue
        if word == "USE":  # USE <graph>: the clause that follows decides
            i += 2
            continue
        return re.split(r"[^A-Za-z_]", word, maxsplit=1)[0]
    return ""


def check_user_cypher(cypher: str) -> None:
    """Raise :class:`RefusedQueryError` if ``cypher`` is not a plain read-only query (see the module docstring)."""
    if not cypher or not cypher.strip():
        raise RefusedQueryError("empty Cypher query")
    code = _code_only(cypher)
    if ";" in code.strip().rstrip(";"):
        raise RefusedQueryError("refused: one statement at a time")
    head = _head(code)
    if head not in ALLOWED_HEADS:
        raise RefusedQueryError(
            f"refused: {head or 'this'} statements are administration or writes; user Cypher runs read-only "
            "(MATCH, OPTIONAL MATCH, WITH, UNWIND, RETURN, CALL, SHOW, LOAD CSV from import/)")
    upper = {w.upper() for w in _WORD.findall(code)}
    for kw in sorted(DENIED_KEYWORDS & upper):
        raise RefusedQueryError(f"refused: {kw} (transaction and server administration) is not allowed in user Cypher")
    for m in _CALLED.finditer(code):
        if not (m.group(1) or m.group(3)):
            continue  # a property access such as n.name
        w = re.sub(r"\s+", "", m.group(2))
        low = w.lower()
        if low.startswith(("db.", "dbms.")) and low not in ALLOWED_PROCEDURES:
            raise RefusedQueryError(f"refused: procedure {w} is not on the read-only list of user Cypher")
        if low.startswith("apoc.") and any(low == d or low.startswith(d + ".") for d in DENIED_APOC):
            raise RefusedQueryError(f"refused: {w} reads files or URLs, or runs Cypher text; not allowed in user Cypher")
    for m in _LOAD_CSV.finditer(code):
        rest = cypher[m.end():].lstrip()
        lit = _STRING.match(rest)
        if lit is None or not re.match(r"(?i)AS\s", rest[lit.end():].lstrip()):
            raise RefusedQueryError("refused: LOAD CSV needs a literal 'file:///name.csv' URL (a file in the "
                                    "server's import directory), not a parameter or expression")
        url = lit.group(0)[1:-1]
        if not url.lower().startswith("file:///"):
            raise RefusedQueryError(f"refused: LOAD CSV FROM {url[:60]!r}: only file:/// URLs of the server's "
                                    "import directory are allowed (no http, https or ftp)")
        if ".." in url.replace("\\", "/").split("/") or "%2e" in url.lower():
            raise RefusedQueryError(f"refused: LOAD CSV FROM {url[:60]!r}: '..' leaves the import directory")
