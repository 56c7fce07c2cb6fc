"""The dense-encoder text of a song: features in words and numbers, tags, moods, a lyric summary."""

from __future__ import annotations

from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.textualize import lyric_summary, textualize


def test_textualize_words_and_numbers(store) -> None:
    cat = SongTable.from_store(store)
    text = textualize(cat, cat.row("daft punk|get lucky"), "dance party summer", ["party"])
    assert '"Get Lucky" by Daft Punk' in text and "high energy (0.81)" in text and "116 BPM" in text
    assert "Released 2013" in text and "Moods: happy" in text and "Lyrics about: party" in text
    assert "electronic" in text  # artist tags


def test_lyric_summary_most_frequent_content_words_first() -> None:
    # ties by word; stopwords and words of two letters or fewer are left out
    assert lyric_summary("rain rain night the and of rain night tears go", n=3) == ["rain", "night", "tears"]
    assert lyric_summary(None) == [] and lyric_summary("") == []
