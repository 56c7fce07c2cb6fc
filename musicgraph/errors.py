"""The exceptions musicgraph raises on purpose, under one root, :class:`MusicgraphError`.

Each expected failure has a typed subclass that also derives from the built-in exception it used to
be (``ValueError``, ``LookupError``, ...), so ``except ValueError`` in older callers keeps working.
The CLI turns them into one line on stderr and an exit code (:data:`EXIT_CODES`); the REST service
turns them into HTTP status codes. Anything else is a bug and keeps its traceback.

>>> issubclass(UnknownEntityError, LookupError), issubclass(RequestError, ValueError)
(True, True)
>>> exit_code(UnknownEntityError("artist", "Radiohed", ["Radiohead"]))
2
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "EXIT_CODES",
    "EmptyStoreError",
    "IndexMissingError",
    "MusicgraphError",
    "RequestError",
    "UnknownEntityError",
    "exit_code",
]


class MusicgraphError(Exception):
    """Root of every error musicgraph raises on purpose (the message is one line for the user)."""


class RequestError(MusicgraphError, ValueError):
    """A request that cannot be answered as given: empty, malformed, out of range, contradictory.

    Attributes:
        field: the request field at fault (``"k"``, ``"constraints.years"``), when known.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownEntityError(MusicgraphError, LookupError):
    """A named artist, song, tag, mood or user that is not in the graph, with close-name suggestions."""

    def __init__(self, kind: str, name: str, suggestions: Sequence[str] = ()):
        self.kind = kind
        self.name = name
        self.suggestions = list(suggestions)
        hint = f"; did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")

    def __reduce__(self):  # picklable across processes (the default passes only the message)
        return (type(self), (self.kind, self.name, self.suggestions))


class EmptyStoreError(MusicgraphError, RuntimeError):
    """The store has no data yet (run ``musicgraph ingest``)."""


class IndexMissingError(MusicgraphError, FileNotFoundError):
    """A derived index (retrieval, GNN) that was never built or cannot be read (the message says what to run)."""


#: CLI exit code per error type (the most specific class found in the exception's MRO wins).
EXIT_CODES: dict[type[BaseException], int] = {
    RequestError: 2,
    UnknownEntityError: 2,
    EmptyStoreError: 3,
    IndexMissingError: 3,
    MusicgraphError: 2,
}


def exit_code(exc: BaseException) -> int:
    """The CLI exit code of ``exc`` (1 for anything that is not a :class:`MusicgraphError`)."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
