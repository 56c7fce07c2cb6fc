"""Dataset loaders: stream the public datasets of ``MUSICGRAPH_DATA_DIR`` as typed records.

One module per dataset family (:mod:`.hetrec`, :mod:`.spotify`, :mod:`.playlists`,
:mod:`.moodylyrics`, :mod:`.lyrics`, :mod:`.msd`, :mod:`.jamendo`, :mod:`.lexicons`); every
``iter_*(data_dir, report=None)`` yields records and counts malformed rows in a :class:`LoadReport`.
:data:`DATASETS` describes every dataset (folder, URL, terms, citation). Importing this package
loads only the standard library and the record types.
"""

from __future__ import annotations

from musicgraph.loaders.base import DATASETS, DataNotFoundError, DatasetInfo, RowError
from musicgraph.loaders.records import (
    AUDIO_FEATURES,
    ArtistGenres,
    ArtistRecord,
    AudioFeatures,
    FriendRecord,
    JamendoTrack,
    ListenRecord,
    LoadReport,
    LyricsRecord,
    MoodLabel,
    PlaylistMood,
    PlaylistTrack,
    Problem,
    SongRecord,
    TagAssignment,
    TagRecord,
)

__all__ = [
    "AUDIO_FEATURES",
    "DATASETS",
    "ArtistGenres",
    "ArtistRecord",
    "AudioFeatures",
    "DataNotFoundError",
    "DatasetInfo",
    "FriendRecord",
    "JamendoTrack",
    "ListenRecord",
    "LoadReport",
    "LyricsRecord",
    "MoodLabel",
    "PlaylistMood",
    "PlaylistTrack",
    "Problem",
    "RowError",
    "SongRecord",
    "TagAssignment",
    "TagRecord",
]
