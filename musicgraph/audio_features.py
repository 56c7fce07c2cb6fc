"""The numeric properties of a Song — audio features and metadata — with their scales and valid ranges.

The one definition every layer derives its feature lists from: the loaders' records
(:class:`~musicgraph.loaders.records.AudioFeatures`), the graph schema and its input validation
(:mod:`musicgraph.graph.schema` re-exports these names), the retrieval catalog's feature matrix, request
constraints, and the explanation radar. It imports only the standard library and sits below the loaders.

Scales are Spotify's: 0..1 for the perceptual features, tempo in BPM, loudness in dB, key a pitch class
0..11 (-1 none), mode 0 minor / 1 major, popularity 0..100.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AUDIO_FEATURES",
    "CATALOG_FEATURES",
    "CONTINUOUS_AUDIO_FEATURES",
    "FEATURE_RANGES",
    "SONG_FEATURES",
    "UNIT_FEATURES",
    "FeatureRange",
]


@dataclass(frozen=True, slots=True)
class FeatureRange:
    """The valid values of a numeric Song property: ``low <= value <= high``, integral if ``integer``."""

    low: float
    high: float
    integer: bool = False
    unit: str = ""

    def describe(self) -> str:
        """``"a number from 0 to 1"``, ``"an integer from -1 to 11 (pitch class, -1 = none)"``."""
        kind = "an integer" if self.integer else "a number"
        lo = int(self.low) if float(self.low).is_integer() else self.low
        hi = int(self.high) if float(self.high).is_integer() else self.high
        return f"{kind} from {lo} to {hi}" + (f" {self.unit}" if self.unit else "")


#: Valid ranges of the numeric Song properties (Spotify scales; the single source for input validation),
#: in the order of every feature list below. Every value in the shared datasets lies inside them
#: (``tests/graph/test_validation.py`` checks).
FEATURE_RANGES: dict[str, FeatureRange] = {
    "danceability": FeatureRange(0.0, 1.0),
    "energy": FeatureRange(0.0, 1.0),
    "valence": FeatureRange(0.0, 1.0),
    "tempo": FeatureRange(0.0, 300.0, unit="BPM"),
    "acousticness": FeatureRange(0.0, 1.0),
    "instrumentalness": FeatureRange(0.0, 1.0),
    "speechiness": FeatureRange(0.0, 1.0),
    "liveness": FeatureRange(0.0, 1.0),
    "loudness": FeatureRange(-60.0, 5.0, unit="dB"),
    "key": FeatureRange(-1, 11, integer=True, unit="(pitch class, -1 = none)"),
    "mode": FeatureRange(0, 1, integer=True, unit="(0 minor, 1 major)"),
    "popularity": FeatureRange(0.0, 100.0),
    "year": FeatureRange(1800, 2100, integer=True),
    "duration_ms": FeatureRange(0, 86_400_000, integer=True, unit="ms"),
}

_METADATA = ("popularity", "year", "duration_ms")

#: Spotify's audio features (the fields of ``AudioFeatures``, the ``audio`` of a catalog change).
AUDIO_FEATURES: tuple[str, ...] = tuple(f for f in FEATURE_RANGES if f not in _METADATA)
#: Numeric Song properties the graph stores and the GNN reads: audio features, popularity and year.
SONG_FEATURES: tuple[str, ...] = (*AUDIO_FEATURES, "popularity", "year")
#: Columns of the retrieval catalog's feature matrix (and names a request constraint may use):
#: the Song features without ``key`` (a pitch class is no quantity to filter or rank by).
CATALOG_FEATURES: tuple[str, ...] = tuple(f for f in SONG_FEATURES if f != "key")
#: Audio features that are quantities (key and mode are categorical): those estimated from the graph.
CONTINUOUS_AUDIO_FEATURES: tuple[str, ...] = tuple(f for f in AUDIO_FEATURES if not FEATURE_RANGES[f].integer)
#: Audio features on a 0..1 scale (the axes of the explanation radar).
UNIT_FEATURES: tuple[str, ...] = tuple(
    f for f in AUDIO_FEATURES if (FEATURE_RANGES[f].low, FEATURE_RANGES[f].high) == (0.0, 1.0) and not FEATURE_RANGES[f].integer
)
