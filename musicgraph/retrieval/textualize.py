"""The dense-encoder text of a song: every feature in words and numbers, then tags and a lyric summary.

Each song becomes a sentence in the style of work on textualized audio features for retrieval
(every feature in words and numbers, then genres, tags, moods and a short lyric summary), e.g.::

    "Get Lucky" by Daft Punk. Album: Random Access Memories. Released 2013. high energy (0.81),
    very danceable (0.79), happy-sounding (0.86), minor key, 116 BPM. Genres: electro, house.
    Tags: electronic, french. Moods: happy. Lyrics about: night, fun, lucky.

The text is what :class:`~musicgraph.retrieval.encoder.Encoder` encodes for the dense index
(:mod:`musicgraph.retrieval.dense`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from musicgraph.retrieval.catalog import FEATURES, SongTable
from musicgraph.retrieval.text import STOPWORDS, words


def _level(value: float, words_: Sequence[tuple[float, str]]) -> str:
    for bound, word in words_:
        if value < bound:
            return word
    return words_[-1][1]


_ENERGY = [(0.25, "very low energy"), (0.45, "low energy"), (0.65, "medium energy"), (0.85, "high energy"), (2, "very high energy")]
_DANCE = [(0.35, "not danceable"), (0.55, "somewhat danceable"), (0.75, "danceable"), (2, "very danceable")]
_VALENCE = [(0.2, "very sad-sounding"), (0.4, "melancholic"), (0.6, "neutral mood"), (0.8, "happy-sounding"), (2, "very happy, cheerful")]
_ACOUSTIC = [(0.2, "electric"), (0.5, "partly acoustic"), (0.8, "acoustic"), (2, "very acoustic")]


def lyric_summary(text: str | None, n: int = 8) -> list[str]:
    """The ``n`` most frequent content words of a lyric (a short, extractive summary)."""
    if not text:
        return []
    counts: dict[str, int] = {}
    for w in words(text):
        if len(w) > 2 and w not in STOPWORDS:
            counts[w] = counts.get(w, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def textualize(catalog: SongTable, i: int, lyrics: str | None = None, emotion_words: Sequence[str] = ()) -> str:
    """The dense-encoder text of catalog row ``i`` (see the module docstring).

    Args:
        catalog: the song table.
        i: the song's row.
        lyrics: the song's lyrics, summarized into their most frequent content words (None: no lyrics).
        emotion_words: the lyrics' emotion words; up to five come first in the "Lyrics about" list
            (ten words in all).
    """
    f = {name: float(catalog.features[i, j]) for j, name in enumerate(FEATURES)}
    parts = [f'"{catalog.titles[i]}" by {catalog.artists[i]}.']
    if catalog.albums[i]:
        parts.append(f"Album: {catalog.albums[i]}.")
    if not math.isnan(f["year"]):
        parts.append(f"Released {int(f['year'])}.")
    audio: list[str] = []
    if not math.isnan(f["energy"]):
        audio.append(f"{_level(f['energy'], _ENERGY)} ({f['energy']:.2f})")
    if not math.isnan(f["danceability"]):
        audio.append(f"{_level(f['danceability'], _DANCE)} ({f['danceability']:.2f})")
    if not math.isnan(f["valence"]):
        audio.append(f"{_level(f['valence'], _VALENCE)} ({f['valence']:.2f})")
    if not math.isnan(f["acousticness"]):
        audio.append(f"{_level(f['acousticness'], _ACOUSTIC)} ({f['acousticness']:.2f})")
    if not math.isnan(f["instrumentalness"]) and f["instrumentalness"] >= 0.5:
        audio.append(f"instrumental ({f['instrumentalness']:.2f})")
    if not math.isnan(f["speechiness"]) and f["speechiness"] >= 0.33:
        audio.append(f"spoken word, rap ({f['speechiness']:.2f})")
    if not math.isnan(f["mode"]):
        audio.append("major key" if f["mode"] >= 0.5 else "minor key")
    if not math.isnan(f["tempo"]) and f["tempo"] > 0:
        audio.append(f"{int(round(f['tempo']))} BPM")
    if audio:
        parts.append(", ".join(audio) + ".")
    if catalog.genres[i]:
        parts.append("Genres: " + ", ".join(catalog.genres[i][:6]) + ".")
    if catalog.tags[i]:
        parts.append("Tags: " + ", ".join(catalog.tags[i][:8]) + ".")
    if catalog.moods[i]:
        parts.append("Moods: " + ", ".join(catalog.moods[i]) + ".")
    summary = list(dict.fromkeys([*emotion_words[:5], *lyric_summary(lyrics)]))[:10]
    if summary:
        parts.append("Lyrics about: " + ", ".join(summary) + ".")
    return " ".join(parts)
