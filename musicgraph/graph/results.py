"""Result types shared by multi-hop recommendation, hybrid retrieval and the RAG generator.

The JSON form (:meth:`Result.to_dict`) is the public contract of ``--json`` output::

    {"rank": 1, "kind": "song", "id": "portishead|glory box", "artist": "Portishead",
     "title": "Glory Box", "name": "Glory Box", "score": 0.0123,
     "scores": {"graph": 0.0123}, "ranks": {"graph": 1},
     "paths": [["Radiohead", "TAGGED", "trip-hop", "TAGGED", "Portishead", "PERFORMED_BY", "Glory Box"]],
     "why": ["Radiohead and Portishead are both tagged trip-hop: Radiohead → tagged → trip-hop → ..."],
     "evidence": {"tags": ["trip-hop"]}}

A path lists node names and relationship types alternately, read from the seed to the result;
a relationship walked against its stored direction is prefixed with ``<-`` (e.g. ``"<-PERFORMED_BY"``
from an artist to one of its songs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from musicgraph.graph.schema import REL_PHRASES, NodeRef
from musicgraph.lazy import moved_getattr


@dataclass(slots=True)
class ExplanationPath:
    """An explanation path from a seed to a result.

    Attributes:
        nodes: the nodes from seed to result.
        names: their display names.
        rels: relationship types between consecutive nodes (``"<-TYPE"`` when walked backwards).
        score: the path's strength (product of transition probabilities along it, or the
            aggregate a meta-path counts, such as the share of shared listeners).
        note: the aggregate that makes it strong, in words ("31 % of Madonna's listeners also play
            Prince (412 of 1,330)"); the path is then its witness.
    """

    nodes: list[NodeRef]
    names: list[str]
    rels: list[str]
    score: float = 0.0
    note: str = ""

    @property
    def hops(self) -> int:
        return len(self.rels)

    def as_list(self) -> list[str]:
        """Node names and relationship types alternately, seed first."""
        out: list[str] = [self.names[0]]
        for rel, name in zip(self.rels, self.names[1:], strict=True):
            out += [rel, name]
        return out

    def sentence(self) -> str:
        """A readable form: ``Radiohead → tagged → trip-hop → tag of → Portishead``."""
        parts = [self.names[0]]
        for rel, name in zip(self.rels, self.names[1:], strict=True):
            backwards = rel.startswith("<-")
            fwd, bwd = REL_PHRASES.get(rel.removeprefix("<-"), (rel, rel))
            parts += [bwd if backwards else fwd, name]
        return " → ".join(parts)

    def explain(self) -> str:
        """The note followed by the path: ``31 % of ... (412 of 1,330): Madonna → listened to by → ...``."""
        return f"{self.note}: {self.sentence()}" if self.note else self.sentence()

    def edges(self) -> list[tuple[NodeRef, str, NodeRef]]:
        """The path's edges as (node, relationship type, node) in stored direction."""
        out = []
        for i, rel in enumerate(self.rels):
            a, b = self.nodes[i], self.nodes[i + 1]
            if rel.startswith("<-"):
                out.append((b, rel[2:], a))
            else:
                out.append((a, rel, b))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [str(n) for n in self.nodes], "path": self.as_list(), "score": self.score, "note": self.note}


@dataclass(slots=True)
class Result:
    """One recommended item with its scores and explanations."""

    rank: int
    kind: str  # "song" | "artist" | "album" | "playlist"
    id: str
    name: str
    score: float
    artist: str | None = None
    title: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    paths: list[ExplanationPath] = field(default_factory=list)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    props: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return {"song": "Song", "artist": "Artist", "album": "Album", "playlist": "Playlist"}[self.kind]

    @property
    def ref(self) -> NodeRef:
        return NodeRef(self.label, self.id)

    def display(self) -> str:
        """``Artist - Title`` for songs, the name for artists."""
        if self.kind == "song" and self.artist:
            return f"{self.artist} - {self.title or self.name}"
        return self.name

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring)."""
        out: dict[str, Any] = {
            "rank": self.rank,
            "kind": self.kind,
            "id": self.id,
            "artist": self.artist,
            "title": self.title,
            "name": self.name,
            "score": float(self.score),
            "scores": {k: float(v) for k, v in self.scores.items()},
            "ranks": dict(self.ranks),
            "paths": [p.as_list() for p in self.paths],
            "why": [p.explain() for p in self.paths],
            "evidence": {k: list(v) for k, v in self.evidence.items()},
        }
        return out


#: ``Path`` (renamed ``ExplanationPath``: it shadowed pathlib) stays importable, with a DeprecationWarning,
#: until the branches written against the old name have landed.
__getattr__ = moved_getattr(__name__, {"Path": "musicgraph.graph.results:ExplanationPath"})
