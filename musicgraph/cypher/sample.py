"""A small invented music graph for trying the exploration pack and for backend tests.

Every name in it is made up. It has every label and relationship type of the schema, lyrics texts,
audio features, and (for Neo4j's vector index) deterministic node embeddings, so each exploration
query has something sensible to find::

    from musicgraph.cypher.sample import load_sample
    load_sample(store)                 # any GraphStore; returns {label/type: rows written}

Keys follow :mod:`musicgraph.graph.schema` (artist key = lower-case name, song key = ``artist|title``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from musicgraph.graph.resolve import hetrec_key, personal_key
from musicgraph.graph.store import GraphStore

# artist -> (genres, tags, [(title, mood, year)], album)
ARTISTS: dict[str, tuple[list[str], list[str], list[tuple[str, str, int]], str]] = {
    "Velvet Hours": (["indie rock"], ["melancholic", "guitar"], [
        ("Paper Lanterns", "sad", 2004), ("Slow Harbour", "calm", 2004), ("Last Tram Home", "sad", 2006)],
        "Harbour Lights"),
    "Neon Harbor": (["synthpop", "electronic"], ["night drive", "80s", "upbeat"], [
        ("Chrome Sunset", "energetic", 2011), ("Pulse City", "happy", 2011), ("Afterglow Avenue", "energetic", 2012)],
        "Pulse City"),
    "Glass Pilots": (["indie rock"], ["guitar", "upbeat"], [
        ("Runway Lights", "happy", 2009), ("Crosswind", "energetic", 2009), ("Altitude", "happy", 2010)],
        "Crosswind"),
    "Marrow Lane": (["folk"], ["acoustic", "melancholic"], [
        ("Winter Orchard", "sad", 2001), ("Kettle Song", "calm", 2001), ("Riverstone", "calm", 2003)],
        "Winter Orchard"),
    "Sunday Static": (["dream pop"], ["dreamy", "melancholic"], [
        ("Cloud Atlas Radio", "calm", 2015), ("Faded Polaroid", "sad", 2015), ("Soft Focus", "calm", 2016)],
        "Soft Focus"),
    "Copper Owls": (["folk", "indie rock"], ["acoustic", "guitar"], [
        ("Lantern Fields", "happy", 2013), ("Barn Dance Bones", "energetic", 2013), ("Evening Hymn", "calm", 2014)],
        "Lantern Fields"),
    "Lumen Drive": (["electronic"], ["night drive", "dreamy"], [
        ("Tunnel Vision", "energetic", 2018), ("Mercury Lights", "calm", 2018), ("Overpass", "energetic", 2019)],
        "Overpass"),
    "Paper Comets": (["synthpop", "dream pop"], ["80s", "dreamy", "upbeat"], [
        ("Starlit Arcade", "happy", 2017), ("Comet Tail", "happy", 2017), ("Glow Stick Heart", "energetic", 2018)],
        "Starlit Arcade"),
    "Northbound Choir": (["folk"], ["acoustic"], [
        ("Compass Rose", "calm", 2008), ("Snowline", "sad", 2008)],
        "Compass Rose"),
    "Mara Quell": (["synthpop"], ["upbeat"], [
        ("Satellite Heart", "happy", 2020)],
        "Satellite Heart"),
}

SIMILAR: list[tuple[str, str, float]] = [
    ("Velvet Hours", "Glass Pilots", 0.8), ("Glass Pilots", "Velvet Hours", 0.8),
    ("Neon Harbor", "Lumen Drive", 0.9), ("Lumen Drive", "Neon Harbor", 0.9),
    ("Neon Harbor", "Paper Comets", 0.7), ("Paper Comets", "Sunday Static", 0.6),
    ("Marrow Lane", "Copper Owls", 0.85), ("Copper Owls", "Northbound Choir", 0.75),
    ("Sunday Static", "Velvet Hours", 0.5),
]
MEMBERS: list[tuple[str, str]] = [("Mara Quell", "Neon Harbor")]

# user id -> {artist: plays}
LISTENS: dict[str, dict[str, int]] = {
    "1": {"Velvet Hours": 900, "Glass Pilots": 400, "Sunday Static": 120},
    "2": {"Velvet Hours": 300, "Marrow Lane": 700, "Copper Owls": 350},
    "3": {"Neon Harbor": 1200, "Lumen Drive": 800, "Paper Comets": 200},
    "4": {"Neon Harbor": 500, "Paper Comets": 650, "Mara Quell": 90},
    "5": {"Marrow Lane": 200, "Northbound Choir": 450, "Copper Owls": 600},
    "6": {"Sunday Static": 700, "Paper Comets": 300, "Velvet Hours": 150},
    "7": {"Glass Pilots": 820, "Copper Owls": 110, "Lumen Drive": 60},
    "8": {"Lumen Drive": 990, "Neon Harbor": 310},
}
# a personal profile (``musicgraph me import``): profile name -> {(artist, title): plays}; it listens to songs
PERSONAL: dict[str, dict[tuple[str, str], int]] = {
    "sample": {("Marrow Lane", "Winter Orchard"): 12, ("Sunday Static", "Soft Focus"): 3},
}
FRIENDS: list[tuple[str, str]] = [("1", "2"), ("1", "6"), ("3", "4"), ("3", "8"), ("5", "2"), ("7", "1")]
USER_TAGS: dict[str, dict[str, int]] = {
    "1": {"melancholic": 5, "guitar": 2}, "3": {"night drive": 7, "80s": 3}, "5": {"acoustic": 4},
    "6": {"dreamy": 3}, "8": {"night drive": 2},
}
PLAYLISTS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "sample:rainy-day": ("Rainy Day", "sad", [
        ("Velvet Hours", "Paper Lanterns"), ("Marrow Lane", "Winter Orchard"), ("Sunday Static", "Faded Polaroid"),
        ("Northbound Choir", "Snowline"), ("Velvet Hours", "Last Tram Home")]),
    "sample:night-drive": ("Night Drive", "energetic", [
        ("Neon Harbor", "Chrome Sunset"), ("Lumen Drive", "Tunnel Vision"), ("Paper Comets", "Glow Stick Heart"),
        ("Lumen Drive", "Overpass"), ("Neon Harbor", "Afterglow Avenue")]),
    "sample:sunday-morning": ("Sunday Morning", "calm", [
        ("Marrow Lane", "Kettle Song"), ("Copper Owls", "Evening Hymn"), ("Sunday Static", "Soft Focus"),
        ("Northbound Choir", "Compass Rose"), ("Lumen Drive", "Mercury Lights")]),
    "sample:feel-good": ("Feel Good", "happy", [
        ("Glass Pilots", "Runway Lights"), ("Paper Comets", "Starlit Arcade"), ("Copper Owls", "Lantern Fields"),
        ("Neon Harbor", "Pulse City"), ("Mara Quell", "Satellite Heart"), ("Paper Comets", "Comet Tail")]),
}
LYRICS: dict[tuple[str, str], str] = {
    ("Velvet Hours", "Paper Lanterns"): "paper lanterns on the water\nevery light a small goodbye\nthe harbour keeps our secrets",
    ("Neon Harbor", "Chrome Sunset"): "chrome sunset on the freeway\nwe drive until the city hums\nneon in the rear view",
    ("Marrow Lane", "Winter Orchard"): "the orchard sleeps in winter\napples dreaming under snow\nwe walk the lane in silence",
    ("Paper Comets", "Starlit Arcade"): "coins in the starlit arcade\nhigh scores and a dancing heart\nthe comets never fade",
    ("Sunday Static", "Faded Polaroid"): "a faded polaroid of summer\nyour smile in static blue\nthe radio forgets the words",
}
MOOD_FEATURES: dict[str, dict[str, float]] = {
    "happy": {"valence": 0.85, "energy": 0.70, "danceability": 0.75, "acousticness": 0.20, "tempo": 120.0},
    "sad": {"valence": 0.20, "energy": 0.30, "danceability": 0.35, "acousticness": 0.60, "tempo": 78.0},
    "calm": {"valence": 0.50, "energy": 0.20, "danceability": 0.40, "acousticness": 0.80, "tempo": 88.0},
    "energetic": {"valence": 0.60, "energy": 0.92, "danceability": 0.70, "acousticness": 0.05, "tempo": 132.0},
}


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def song_key(artist: str, title: str) -> str:
    """The sample's song key (``artist key|title key``)."""
    return f"{_key(artist)}|{_key(title)}"


def _jitter(text: str, scale: float) -> float:
    h = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
    return ((h % 2001) / 1000.0 - 1.0) * scale


def _text_ref(text: str) -> str:
    return "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()


def load_sample(store: GraphStore) -> dict[str, int]:
    """Write the sample graph into ``store`` (idempotent); returns rows written per label / type."""
    out: dict[str, int] = {}
    artists: list[tuple[str, dict[str, Any]]] = []
    songs: list[tuple[str, dict[str, Any]]] = []
    albums: list[tuple[str, dict[str, Any]]] = []
    genres: dict[str, dict[str, Any]] = {}
    tags: dict[str, dict[str, Any]] = {}
    moods = {m: {"name": m} for m in MOOD_FEATURES}
    e: dict[tuple[str, str, str], list[tuple[str, str, dict[str, Any]]]] = {}

    def edge(rel: str, sl: str, dl: str, s: str, d: str, props: dict[str, Any] | None = None) -> None:
        e.setdefault((rel, sl, dl), []).append((s, d, props or {}))

    texts: dict[str, str] = {}
    for name, (gens, tgs, tracks, album) in ARTISTS.items():
        a = _key(name)
        artists.append((a, {"name": name, "aliases": [name, name.upper()], "sources": ["sample"]}))
        alb = f"{a}|{_key(album)}"
        albums.append((alb, {"name": album, "artist": name, "sources": ["sample"]}))
        edge("ALBUM_BY", "Album", "Artist", alb, a)
        for g in gens:
            genres[_key(g)] = {"name": g}
            edge("HAS_GENRE", "Artist", "Genre", a, _key(g), {"sources": ["sample"]})
        for i, t in enumerate(tgs):
            tags[_key(t)] = {"name": t}
            edge("TAGGED", "Artist", "Tag", a, _key(t), {"weight": 10 - 3 * i})
        for title, mood, year in tracks:
            s = song_key(name, title)
            props: dict[str, Any] = {
                "title": title, "artist": name, "album": album, "year": year, "genres": list(gens),
                "sources": ["sample"], "aliases": [f"{name} - {title}"],
                "popularity": 40 + int(abs(_jitter(s, 50))), "explicit": False, "key": int(abs(_jitter(s + "k", 11.4))),
                "mode": 1, "speechiness": 0.05, "liveness": 0.1, "loudness": -7.5,
                "instrumentalness": 0.01,
            }
            for feat, value in MOOD_FEATURES[mood].items():
                props[feat] = round(value + _jitter(s + feat, 0.08 if feat != "tempo" else 6.0), 4)
            lyr = LYRICS.get((name, title))
            if lyr:
                ref = _text_ref(lyr)
                texts[ref] = lyr
                props["lyrics_ref"] = ref
            songs.append((s, props))
            edge("PERFORMED_BY", "Song", "Artist", s, a, {"role": "main"})
            edge("ON_ALBUM", "Song", "Album", s, alb)
            edge("HAS_MOOD", "Song", "Mood", s, mood, {"sources": ["sample"], "confidence": 0.9})
            for g in gens:
                edge("HAS_GENRE", "Song", "Genre", s, _key(g), {"sources": ["sample"]})
            edge("TAGGED", "Song", "Tag", s, _key(tgs[0]), {"weight": 1})
    # a featured appearance, for PERFORMED_BY role "featured"
    edge("PERFORMED_BY", "Song", "Artist", song_key("Neon Harbor", "Pulse City"), _key("Mara Quell"),
         {"role": "featured"})
    for s, d, w in SIMILAR:
        edge("SIMILAR_TO", "Artist", "Artist", _key(s), _key(d), {"weight": w, "sources": ["sample"]})
    for s, d in MEMBERS:
        edge("MEMBER_OF", "Artist", "Artist", _key(s), _key(d))
    users = [(hetrec_key(u), {"source": "hetrec", "source_id": u}) for u in LISTENS]
    for u, plays in LISTENS.items():
        for artist, w in plays.items():
            edge("LISTENED_TO", "User", "Artist", hetrec_key(u), _key(artist), {"weight": w})
    for name, played in PERSONAL.items():
        users.append((personal_key(name), {"source": "me", "source_id": name, "name": f"you ({name})",
                                           "import_state": "complete"}))
        for (artist, title), plays in played.items():
            edge("LISTENED_TO", "User", "Song", personal_key(name), song_key(artist, title),
                 {"weight": float(plays), "plays": plays, "short_plays": 0, "skips": 0})
    for a, b in FRIENDS:
        edge("FRIEND_OF", "User", "User", hetrec_key(a), hetrec_key(b))
        edge("FRIEND_OF", "User", "User", hetrec_key(b), hetrec_key(a))
    for u, used in USER_TAGS.items():
        for t, w in used.items():
            edge("USED_TAG", "User", "Tag", hetrec_key(u), _key(t), {"weight": w})
    playlists = []
    for pk, (pname, mood, items) in PLAYLISTS.items():
        playlists.append((pk, {"name": pname, "source": "sample"}))
        edge("HAS_MOOD", "Playlist", "Mood", pk, mood, {"sources": ["sample"], "confidence": 1.0})
        for pos, (artist, title) in enumerate(items):
            edge("IN_PLAYLIST", "Song", "Playlist", song_key(artist, title), pk, {"position": pos})

    out["Artist"] = store.upsert_nodes("Artist", artists)
    out["Song"] = store.upsert_nodes("Song", songs)
    out["Album"] = store.upsert_nodes("Album", albums)
    out["Genre"] = store.upsert_nodes("Genre", sorted(genres.items()))
    out["Tag"] = store.upsert_nodes("Tag", sorted(tags.items()))
    out["Mood"] = store.upsert_nodes("Mood", sorted(moods.items()))
    out["User"] = store.upsert_nodes("User", users)
    out["Playlist"] = store.upsert_nodes("Playlist", playlists)
    store.put_texts(texts)
    for (rel, sl, dl), rows in e.items():
        out[rel] = out.get(rel, 0) + store.upsert_edges(rel, sl, dl, rows)
    return out


def sample_embeddings(dim: int, label: str = "Song") -> dict[str, list[float]]:
    """Deterministic unit vectors for the sample's songs (or artists): items sharing a mood and artist
    point in similar directions, so vector search has a meaningful neighbourhood."""
    if dim < 8:
        raise ValueError(f"dim must be >= 8, got {dim}")
    moods = list(MOOD_FEATURES)
    names = list(ARTISTS)
    out: dict[str, list[float]] = {}
    for name, (_, _, tracks, _) in ARTISTS.items():
        if label == "Artist":
            items: Sequence[tuple[str, str]] = [(_key(name), max(set(m for _, m, _ in tracks), key=[m for _, m, _ in tracks].count))]
        else:
            items = [(song_key(name, t), m) for t, m, _ in tracks]
        for key, mood in items:
            vec = [_jitter(f"{key}:{i}", 0.15) for i in range(dim)]
            vec[moods.index(mood)] += 1.0
            vec[4 + names.index(name) % (dim - 4)] += 0.5
            norm = math.sqrt(sum(x * x for x in vec))
            out[key] = [x / norm for x in vec]
    return out


#: Parameters that make each exploration query meaningful on the sample graph (the files' own
#: ``:param`` defaults name entities of the real shared data).
SAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "similar_artists": {"artist": "velvet hours"},
    "user_discoveries": {"user": hetrec_key(1)},
    "friends_favourites": {"user": hetrec_key(1)},
    "songs_like_song": {"song": "velvet hours|paper lanterns"},
    "mood_path": {"from": "velvet hours", "to": "neon harbor"},
    "playlist_cooccurrence": {"song": "neon harbor|chrome sunset"},
    "genre_neighbourhood": {"artist": "neon harbor"},
    "audio_neighbours": {},
    "fulltext_songs": {"text": "lantern*"},
    "fulltext_artists": {"text": "neon harbr~"},
    "fulltext_lyrics": {"text": "harbour"},
    "vector_similar_songs": {"song": "velvet hours|paper lanterns"},
    "artist_tag_cloud": {"artist": "neon harbor"},
    "mood_playlists": {"mood": "sad"},
    "user_profile": {"user": hetrec_key(1)},
    "gnn_artists_near_in_tag": {"artist": "velvet hours", "tag": "melancholic"},
}
