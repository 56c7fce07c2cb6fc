"""Fixtures of the retrieval tests: a small invented catalog in an embedded store.

Everything here is made up for the tests (titles, tags, "lyrics" and lexicon values); nothing is
copied from the shared datasets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgraph.graph.embedded import EmbeddedStore
from musicgraph.retrieval.encoder import HashingEncoder

VAD: dict[str, tuple[float, float, float]] = {
    "sad": (0.10, 0.30, 0.20), "tears": (0.15, 0.50, 0.30), "cry": (0.10, 0.60, 0.20),
    "lonely": (0.10, 0.20, 0.20), "happy": (0.95, 0.70, 0.70), "party": (0.90, 0.85, 0.60),
    "dance": (0.85, 0.75, 0.60), "rain": (0.40, 0.30, 0.40), "rainy": (0.35, 0.30, 0.40),
    "night": (0.45, 0.30, 0.40), "calm": (0.70, 0.10, 0.50), "angry": (0.10, 0.90, 0.60),
    "smashing": (0.20, 0.85, 0.60), "dreams": (0.80, 0.40, 0.50), "heart": (0.80, 0.50, 0.50),
    "goodbye": (0.30, 0.40, 0.30), "summer": (0.85, 0.60, 0.60), "love": (0.95, 0.60, 0.60),
    "alone": (0.15, 0.20, 0.20), "cold": (0.25, 0.40, 0.40), "queen": (0.70, 0.50, 0.80),
    "lucky": (0.90, 0.60, 0.60), "fire": (0.40, 0.85, 0.60), "sunshine": (0.95, 0.60, 0.60),
    "upbeat": (0.85, 0.75, 0.60), "study": (0.60, 0.35, 0.50), "rage": (0.10, 0.95, 0.60),
}

F = ("danceability", "energy", "valence", "tempo", "acousticness", "instrumentalness", "speechiness", "popularity", "year")

# key, title, artist key, artist name, features (F order or None), moods, genres, lyrics
SONGS = [
    ("daft punk|get lucky", "Get Lucky", "daft punk", "Daft Punk", (0.79, 0.81, 0.86, 116, 0.04, 0.0, 0.04, 80, 2013), ["happy"], ["electro house"],
     "we are up all night to get lucky, dance until the sunshine, party love summer"),
    ("daft punk|one more time", "One More Time", "daft punk", "Daft Punk", (0.61, 0.70, 0.47, 123, 0.02, 0.1, 0.1, 75, 2000), [], ["electro house"], None),
    ("justice|genesis", "Genesis", "justice", "Justice", (0.70, 0.88, 0.62, 118, 0.01, 0.6, 0.05, 50, 2007), ["happy"], ["electro house"], None),
    ("justice|dance", "D.A.N.C.E.", "justice", "Justice", (0.80, 0.85, 0.70, 114, 0.02, 0.0, 0.08, 60, 2007), [], ["electro house"],
     "dance dance party all night, happy people in the summer"),
    ("adele|someone like you", "Someone Like You", "adele", "Adele", (0.30, 0.30, 0.20, 68, 0.90, 0.0, 0.03, 85, 2011), ["sad"], ["pop"],
     "tears fall like rain, lonely heart, I cry goodbye alone in the cold night"),
    ("adele|rolling in the deep", "Rolling in the Deep", "adele", "Adele", (0.73, 0.77, 0.50, 105, 0.13, 0.0, 0.03, 82, 2010), [], ["pop"],
     "fire starting in my heart, we could have had it all"),
    ("coldplay|fix you", "Fix You", "coldplay", "Coldplay", (0.21, 0.40, 0.12, 138, 0.40, 0.0, 0.03, 78, 2005), ["sad"], ["britpop"],
     "tears stream down your face, lonely, cold, I cry when you lose something you love"),
    ("coldplay|viva la vida", "Viva La Vida", "coldplay", "Coldplay", (0.49, 0.62, 0.42, 138, 0.10, 0.0, 0.03, 80, 2008), [], ["britpop"], None),
    ("nils frahm|says", "Says", "nils frahm", "Nils Frahm", (0.30, 0.20, 0.30, 70, 0.80, 0.90, 0.03, 40, 2013), ["calm"], ["ambient"], None),
    ("nils frahm|ambre", "Ambre", "nils frahm", "Nils Frahm", (0.25, 0.10, 0.40, 60, 0.95, 0.95, 0.04, 35, 2009), ["calm"], ["ambient"], None),
    ("metallica|master of puppets", "Master of Puppets", "metallica", "Metallica", (0.50, 0.95, 0.20, 212, 0.0, 0.1, 0.08, 79, 1986), ["angry"], ["thrash metal"],
     "master of puppets pulling strings, smashing dreams, rage and fire"),
    ("queen|dont stop me now", "Don't Stop Me Now", "queen", "Queen", (0.56, 0.87, 0.60, 156, 0.05, 0.0, 0.17, 85, 1978), ["happy"], ["classic rock"], None),
    ("the rain collective|window", "Window", "the rain collective", "The Rain Collective", None, [], [],
     "rain falls on the window at night, cold and alone, the rainy night goes on"),
]
TAGS = {
    "daft punk": [("electronic", 50), ("french house", 30), ("dance", 20)],
    "justice": [("electronic", 40), ("french house", 25)],
    "adele": [("soul", 40), ("female vocalists", 30), ("sad", 10)],
    "coldplay": [("britpop", 30), ("alternative", 20), ("melancholic", 10)],
    "nils frahm": [("ambient", 30), ("piano", 20), ("instrumental", 15)],
    "metallica": [("metal", 50), ("thrash metal", 40)],
    "queen": [("classic rock", 50), ("electronic", 1)],
    "the rain collective": [("ambient", 3)],
}
LISTENS = {
    "1": [("daft punk", 100), ("justice", 50)],
    "2": [("adele", 80), ("coldplay", 60)],
    "3": [("daft punk", 40), ("justice", 90), ("queen", 10)],
    "4": [("metallica", 70), ("queen", 30)],
}


def populate(store: EmbeddedStore) -> None:
    """Write the invented catalog into ``store``."""
    artists = {(a, n) for _, _, a, n, *_ in SONGS}
    store.upsert_nodes("Artist", [(a, {"name": n, "aliases": ["DP"] if a == "daft punk" else []}) for a, n in artists])
    rows, texts = [], {}
    for i, (key, title, _akey, aname, feats, _m, _g, lyr) in enumerate(SONGS):
        props = {"title": title, "artist": aname, "album": f"{aname} album"}
        if feats is not None:
            props.update(dict(zip(F, feats, strict=True)))
        if lyr:
            ref = f"lyr:{i}"
            texts[ref] = lyr
            props["lyrics_ref"] = ref
        rows.append((key, props))
    store.upsert_nodes("Song", rows)
    store.put_texts(texts)
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(s[0], s[2], {"role": "main"}) for s in SONGS])
    moods = sorted({m for s in SONGS for m in s[5]} | {"relaxed"})
    store.upsert_nodes("Mood", [(m, {"name": m}) for m in moods])
    store.upsert_edges("HAS_MOOD", "Song", "Mood", [(s[0], m, {}) for s in SONGS for m in s[5]])
    genres = sorted({g for s in SONGS for g in s[6]})
    store.upsert_nodes("Genre", [(g, {"name": g}) for g in genres])
    store.upsert_edges("HAS_GENRE", "Song", "Genre", [(s[0], g, {}) for s in SONGS for g in s[6]])
    tags = sorted({t for ts in TAGS.values() for t, _ in ts})
    store.upsert_nodes("Tag", [(t, {"name": t}) for t in tags])
    store.upsert_edges("TAGGED", "Artist", "Tag", [(a, t, {"weight": w}) for a, ts in TAGS.items() for t, w in ts])
    store.upsert_nodes("User", [(f"hetrec:{u}", {"source": "hetrec", "source_id": u}) for u in LISTENS])
    store.upsert_edges("LISTENED_TO", "User", "Artist",
                       [(f"hetrec:{u}", a, {"weight": w}) for u, ls in LISTENS.items() for a, w in ls])


class HashEncoder(HashingEncoder):
    """A deterministic stand-in for MiniLM: hashed bag of words, L2-normalized (64 dims)."""

    def __init__(self) -> None:
        super().__init__(dim=64)


@pytest.fixture(scope="session")
def vad() -> dict[str, tuple[float, float, float]]:
    return dict(VAD)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    s = EmbeddedStore(tmp_path_factory.mktemp("store"))
    populate(s)
    return s


@pytest.fixture(scope="session")
def index_dir(store: EmbeddedStore, tmp_path_factory: pytest.TempPathFactory, vad) -> Path:
    from musicgraph.retrieval.index import build_indexes

    out = tmp_path_factory.mktemp("index")
    build_indexes(store, out, encoder=HashEncoder(), vad=vad, progress=False)
    return out


@pytest.fixture(scope="session")
def retriever(store: EmbeddedStore, index_dir: Path, vad):
    from musicgraph.retrieval.retriever import HybridRetriever

    r = HybridRetriever(store, index_dir=index_dir, encoder=HashEncoder(), vad=vad)
    from musicgraph.retrieval.linking import EntityLinker

    r.resources._linker = EntityLinker(store.projection(), r.catalog, vocabulary=vad.keys(), min_tag_degree=1)
    return r


@pytest.fixture(scope="session")
def make_encoder():
    """The :class:`HashEncoder` class (tests build their own instances)."""
    return HashEncoder


@pytest.fixture(scope="session")
def populate_store():
    """The function that writes the invented catalog into a store."""
    return populate
