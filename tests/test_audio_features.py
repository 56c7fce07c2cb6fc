"""Every feature list is derived from the one definition in musicgraph.audio_features."""

from __future__ import annotations

import dataclasses
from typing import get_args

from musicgraph.audio_features import (
    AUDIO_FEATURES,
    CATALOG_FEATURES,
    CONTINUOUS_AUDIO_FEATURES,
    FEATURE_RANGES,
    SONG_FEATURES,
    UNIT_FEATURES,
)
from musicgraph.graph import schema
from musicgraph.graph.features import ESTIMATED_FEATURES
from musicgraph.graph.profile import PROFILE_FEATURES
from musicgraph.loaders.records import AudioFeatures
from musicgraph.rag.explain import RADAR_FEATURES
from musicgraph.retrieval import request
from musicgraph.retrieval.catalog import FEATURES


def test_lists_keep_their_members_and_order() -> None:
    """The catalog matrix's columns are stored on disk: their order must never change."""
    assert AUDIO_FEATURES == ("danceability", "energy", "valence", "tempo", "acousticness", "instrumentalness",
                              "speechiness", "liveness", "loudness", "key", "mode")
    assert SONG_FEATURES == (*AUDIO_FEATURES, "popularity", "year")
    assert FEATURES == CATALOG_FEATURES == ("danceability", "energy", "valence", "tempo", "acousticness",
                                            "instrumentalness", "speechiness", "liveness", "loudness", "mode",
                                            "popularity", "year")
    assert RADAR_FEATURES == UNIT_FEATURES == ("danceability", "energy", "valence", "acousticness",
                                               "instrumentalness", "speechiness", "liveness")
    assert ESTIMATED_FEATURES == CONTINUOUS_AUDIO_FEATURES == tuple(f for f in AUDIO_FEATURES if f not in ("key", "mode"))
    assert PROFILE_FEATURES == (*UNIT_FEATURES, "tempo", "loudness")


def test_every_layer_uses_the_one_definition() -> None:
    assert tuple(f.name for f in dataclasses.fields(AudioFeatures)) == AUDIO_FEATURES
    assert schema.SONG_FEATURES is SONG_FEATURES and schema.FEATURE_RANGES is FEATURE_RANGES
    assert get_args(request.FeatureName) == CATALOG_FEATURES
    assert set(SONG_FEATURES) <= set(FEATURE_RANGES)


def test_request_constraints_are_validated_against_the_schema_ranges() -> None:
    import pytest

    from musicgraph.errors import RequestError

    with pytest.raises(RequestError, match="energy: 1.5 is outside 0..1"):
        request.parse_request({"text": "x", "constraints": {"features": {"energy": [None, 1.5]}}})
    ok = request.parse_request({"text": "x", "constraints": {"features": {"tempo": [90, 300]}}})
    assert ok.constraints.features == {"tempo": (90.0, 300.0)}
