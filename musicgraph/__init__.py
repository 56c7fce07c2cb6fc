"""musicgraph: a knowledge-graph-centric, multi-hop retrieval engine for music recommendation."""

from __future__ import annotations

__version__ = "0.1.0"
