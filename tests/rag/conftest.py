"""Fixtures of the RAG tests: a tiny invented catalog in an embedded store and a fake retriever."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from musicgraph.graph.embedded import EmbeddedStore
from musicgraph.graph.resolve import artist_key
from musicgraph.graph.results import ExplanationPath, Result
from musicgraph.graph.schema import NodeRef
from musicgraph.retrieval.base import Retriever
from musicgraph.retrieval.request import Request

ARTISTS = {
    "velvet foxes": "The Velvet Foxes",
    "moonlit harbor": "Moonlit Harbor",
    "quiet engines": "Quiet Engines",
    "sunny side up": "Sunny Side Up",
    "glass lanterns": "Glass Lanterns",
    "bjork sisters": "Björk Sisters",
}

# key, artist key, title, year, valence, energy, acousticness, danceability, moods, lyric
SONGS = [
    ("velvet foxes|rain on glass", "velvet foxes", "Rain on Glass", 2003, 0.18, 0.30, 0.70, 0.35, ["sad"],
     "grey water on the window\nrain on glass and I am alone tonight"),
    ("velvet foxes|paper boats", "velvet foxes", "Paper Boats", 2005, 0.30, 0.40, 0.50, 0.45, ["sad", "calm"], None),
    ("moonlit harbor|low tide lullaby", "moonlit harbor", "Low Tide Lullaby", 2010, 0.25, 0.20, 0.90, 0.30,
     ["calm"], None),
    ("moonlit harbor|lantern song", "moonlit harbor", "Lantern Song", 2012, 0.45, 0.35, 0.80, 0.40, ["calm"], None),
    ("quiet engines|static hearts", "quiet engines", "Static Hearts", 1999, 0.22, 0.55, 0.20, 0.50, ["sad"], None),
    ("sunny side up|golden hour", "sunny side up", "Golden Hour", 2018, 0.90, 0.85, 0.10, 0.85, ["happy"], None),
    ("sunny side up|jump the puddles", "sunny side up", "Jump the Puddles", 2019, 0.80, 0.90, 0.05, 0.80,
     ["happy", "energetic"], None),
    ("glass lanterns|northern lights", "glass lanterns", "Northern Lights", 2015, 0.60, 0.70, 0.30, 0.65,
     ["happy"], None),
    ("bjork sisters|ice flower", "bjork sisters", "Ice Flower", 2001, 0.35, 0.45, 0.60, 0.40, ["sad"], None),
]  # fmt: skip

TAGS = {"velvet foxes": ["melancholic", "indie"], "moonlit harbor": ["melancholic", "dreamy"],
        "quiet engines": ["indie"], "sunny side up": ["party"], "glass lanterns": ["indie", "dreamy"],
        "bjork sisters": ["dreamy"]}  # fmt: skip


def build_store(path: str) -> EmbeddedStore:
    store = EmbeddedStore(path)
    store.upsert_nodes("Artist", [(k, {"name": v, "aliases": [], "sources": ["test"]}) for k, v in ARTISTS.items()])
    store.upsert_nodes("Mood", [(m, {"name": m}) for m in ("sad", "happy", "calm", "energetic")])
    store.upsert_nodes("Tag", [(t, {"name": t}) for t in ("melancholic", "indie", "dreamy", "party")])
    store.upsert_nodes("Genre", [("indie pop", {"name": "indie pop"})])
    rows, lyrics = [], {}
    for key, artist, title, year, val, en, ac, da, _moods, lyric in SONGS:
        props = {"title": title, "artist": ARTISTS[artist], "year": year, "valence": val, "energy": en,
                 "acousticness": ac, "danceability": da, "tempo": 80 + 60 * en, "mode": 0 if val < 0.4 else 1}  # fmt: skip
        if lyric:
            props["lyrics_ref"] = f"ly:{key}"
            lyrics[f"ly:{key}"] = lyric
        rows.append((key, props))
    store.upsert_nodes("Song", rows)
    store.put_texts(lyrics)
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(k, a, {"role": "main"}) for k, a, *_ in SONGS])
    store.upsert_edges("HAS_MOOD", "Song", "Mood", [(s[0], m, {}) for s in SONGS for m in s[8]])
    store.upsert_edges("HAS_GENRE", "Song", "Genre", [(s[0], "indie pop", {}) for s in SONGS[:4]])
    store.upsert_edges("TAGGED", "Artist", "Tag", [(a, t, {"weight": 3}) for a, ts in TAGS.items() for t in ts])
    return store


@pytest.fixture()
def store(tmp_path) -> EmbeddedStore:
    st = build_store(str(tmp_path / "store"))
    yield st
    st.close()


def song_result(rank: int, key: str, with_path: bool = True) -> Result:
    row = next(s for s in SONGS if s[0] == key)
    artist = ARTISTS[row[1]]
    paths = []
    if with_path:
        paths = [ExplanationPath([NodeRef("Artist", "velvet foxes"), NodeRef("Tag", "melancholic"), NodeRef("Artist", row[1]),
                       NodeRef("Song", key)],
                      ["The Velvet Foxes", "melancholic", artist, row[2]], ["TAGGED", "<-TAGGED", "<-PERFORMED_BY"],
                      0.1)]  # fmt: skip
    return Result(rank=rank, kind="song", id=key, name=row[2], score=1.0 / rank, artist=artist, title=row[2],
                  scores={"graph": 1.0 / rank}, ranks={"graph": rank}, paths=paths)  # fmt: skip


class FakeRetriever(Retriever):
    """Returns catalog songs in a fixed order (sad ones first for sad queries), counting calls.

    It honours the request's ``k`` and its artist exclusions, as every retriever must.
    """

    name = "fake"

    def __init__(self, order: list[str] | None = None):
        self.order = order
        self.calls: list[tuple[str, int]] = []
        self.requests: list[Request] = []

    def get_search_results(self, request: Request) -> list[Result]:
        query = request.text or ""
        self.calls.append((query, request.k))
        self.requests.append(request)
        if "nothing" in query:
            return []
        keys = self.order or [s[0] for s in sorted(SONGS, key=lambda s: s[4])]  # saddest first
        if "happy" in query or "upbeat" in query:
            keys = list(reversed(keys))
        banned = {e.key or artist_key(e.name) for e in request.constraints.exclude if e.label == "Artist"}
        keys = [k for k in keys if k.split("|", 1)[0] not in banned]
        return [song_result(i, key) for i, key in enumerate(keys[: request.k], start=1)]


@pytest.fixture()
def retriever() -> FakeRetriever:
    return FakeRetriever()


@pytest.fixture()
def make_retriever() -> Callable[..., FakeRetriever]:
    return FakeRetriever
