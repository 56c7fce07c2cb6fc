"""Training pairs of the local T5, generated from the graph itself (:func:`make_pairs`).

Requests from templates over the graph's moods (MoodyLyrics, Spotify mood labels), genres, artist tags
and artists ("sad songs", "songs like Portishead", "melancholic trip-hop"), candidates the graph links to
them (with the linking path), the evidence block built exactly as at answer time, and as target the
template answer (without paths) in *pointer* form: each song is written as its evidence number
(``1. [2]: sad mood; low energy.``), which :class:`~musicgraph.rag.t5_local.T5LocalGenerator` expands.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from typing import TYPE_CHECKING

from musicgraph.graph.results import ExplanationPath, Result
from musicgraph.graph.schema import NodeRef
from musicgraph.rag.context import build_context
from musicgraph.rag.seq2seq import format_prompt
from musicgraph.rag.t5_local import MAX_INPUT
from musicgraph.rag.template import template_answer

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore


__all__ = ["REQUEST_TEMPLATES", "make_pairs"]

log = logging.getLogger(__name__)

REQUEST_TEMPLATES: dict[str, tuple[str, ...]] = {
    "mood": ("{x} songs", "something {x}", "play me {x} music", "I feel {x}, what should I listen to?",
             "songs that sound {x}", "recommend {x} tracks"),
    "genre": ("{x} songs", "recommend some {x}", "good {x} tracks", "I want to hear {x}"),
    "tag": ("{x} music", "songs tagged {x}", "something {x} please", "{x} tracks for tonight"),
    "artist": ("songs like {x}", "more like {x}", "music similar to {x}", "if I like {x}, what else?"),
    "mood+artist": ("{m} songs like {x}", "{m} music similar to {x}"),
}  # fmt: skip


class _GraphIndex:
    """Song facts and links read once from the store for pair generation."""

    def __init__(self, store: GraphStore):
        self.songs = {n.key: n for n in store.iter_nodes("Song")}
        self.artists = {n.key: n.name for n in store.iter_nodes("Artist")}
        self.by_mood: dict[str, list[str]] = defaultdict(list)
        self.by_genre: dict[str, list[str]] = defaultdict(list)
        self.by_artist: dict[str, list[str]] = defaultdict(list)
        self.artist_tags: dict[str, list[str]] = defaultdict(list)
        self.tag_artists: dict[str, list[str]] = defaultdict(list)
        self.song_moods: dict[str, list[str]] = defaultdict(list)
        self.song_genres: dict[str, list[str]] = defaultdict(list)
        names = {label: {n.key: n.name for n in store.iter_nodes(label)} for label in ("Mood", "Genre", "Tag")}
        for e in store.iter_edges("HAS_MOOD"):
            if e.src.label == "Song" and e.src.key in self.songs:
                mood = names["Mood"].get(e.dst.key, e.dst.key)
                self.by_mood[mood].append(e.src.key)
                self.song_moods[e.src.key].append(mood)
        for e in store.iter_edges("HAS_GENRE"):
            if e.src.label == "Song" and e.src.key in self.songs:
                genre = names["Genre"].get(e.dst.key, e.dst.key)
                self.by_genre[genre].append(e.src.key)
                self.song_genres[e.src.key].append(genre)
        for e in store.iter_edges("PERFORMED_BY"):
            if e.src.key in self.songs and (e.props.get("role") in (None, "main")):
                self.by_artist[e.dst.key].append(e.src.key)
        for e in store.iter_edges("TAGGED"):
            if e.src.label == "Artist" and e.src.key in self.by_artist:
                tag = names["Tag"].get(e.dst.key, e.dst.key)
                self.artist_tags[e.src.key].append(tag)
                self.tag_artists[tag].append(e.src.key)
        self.tags = [t for t, a in self.tag_artists.items() if len(a) >= 3]
        self.moods = [m for m, s in self.by_mood.items() if len(s) >= 3]
        self.genres = [g for g, s in self.by_genre.items() if len(s) >= 3]
        self.tagged_artists = [a for a in self.artist_tags if len(self.artist_tags[a]) >= 1]

    def result(self, key: str, rank: int, path: ExplanationPath | None) -> Result:
        node = self.songs[key]
        artist = str(node.props.get("artist") or "")
        return Result(
            rank=rank, kind="song", id=key, name=node.name, score=1.0 / rank, artist=artist, title=node.name,
            paths=[path] if path else [], props=dict(node.props),
            evidence={"moods": self.song_moods.get(key, [])[:3], "genres": self.song_genres.get(key, [])[:3]},
        )  # fmt: skip

    def song_path(self, label: str, key: str, name: str, rel: str, song: str) -> ExplanationPath:
        return ExplanationPath([NodeRef(label, key), NodeRef("Song", song)], [name, self.songs[song].name], [rel])


def make_pairs(
    store: GraphStore, n: int = 1200, seed: int = 13, max_k: int = 5, budget: int = MAX_INPUT - 40
) -> list[tuple[str, str]]:
    """``n`` (model input, target answer) pairs generated from ``store`` (see the module docstring).

    Raises:
        ValueError: the store has too little linked data to build requests from.
    """
    rng = random.Random(seed)
    g = _GraphIndex(store)
    kinds = [k for k, ok in (("mood", g.moods), ("genre", g.genres), ("tag", g.tags),
                             ("artist", g.tagged_artists), ("mood+artist", g.moods and g.tagged_artists)) if ok]  # fmt: skip
    if not kinds:
        raise ValueError(f"store {store!r} has no moods, genres or tagged artists to build training requests from")
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < n and attempts < n * 5:
        attempts += 1
        kind = rng.choice(kinds)
        k = rng.randint(1, max_k)
        template = rng.choice(REQUEST_TEMPLATES[kind])
        picked: list[tuple[str, ExplanationPath | None]] = []
        if kind == "mood":
            mood = rng.choice(g.moods)
            request = template.format(x=mood)
            songs = rng.sample(g.by_mood[mood], min(k, len(g.by_mood[mood])))
            picked = [(s, g.song_path("Mood", mood, mood, "<-HAS_MOOD", s)) for s in songs]
        elif kind == "genre":
            genre = rng.choice(g.genres)
            request = template.format(x=genre)
            songs = rng.sample(g.by_genre[genre], min(k, len(g.by_genre[genre])))
            picked = [(s, g.song_path("Genre", genre, genre, "<-HAS_GENRE", s)) for s in songs]
        elif kind == "tag":
            tag = rng.choice(g.tags)
            request = template.format(x=tag)
            for a in rng.sample(g.tag_artists[tag], min(k, len(g.tag_artists[tag]))):
                s = rng.choice(g.by_artist[a])
                path = ExplanationPath([NodeRef("Tag", tag), NodeRef("Artist", a), NodeRef("Song", s)],
                             [tag, g.artists.get(a, a), g.songs[s].name], ["<-TAGGED", "<-PERFORMED_BY"])  # fmt: skip
                picked.append((s, path))
        else:
            seed_artist = rng.choice(g.tagged_artists)
            tag = rng.choice(g.artist_tags[seed_artist])
            others = [a for a in g.tag_artists[tag] if a != seed_artist]
            if not others:
                continue
            name = g.artists.get(seed_artist, seed_artist)
            for a in rng.sample(others, min(k, len(others))):
                s = rng.choice(g.by_artist[a])
                path = ExplanationPath(
                    [NodeRef("Artist", seed_artist), NodeRef("Tag", tag), NodeRef("Artist", a), NodeRef("Song", s)],
                    [name, tag, g.artists.get(a, a), g.songs[s].name], ["TAGGED", "<-TAGGED", "<-PERFORMED_BY"],
                )  # fmt: skip
                picked.append((s, path))
            moods = [m for s, _ in picked for m in g.song_moods.get(s, [])]
            if kind == "mood+artist" and not moods:
                continue
            request = template.format(x=name, m=moods[0] if moods else "")
        if not picked:
            continue
        results = [g.result(s, i, p) for i, (s, p) in enumerate(picked, start=1)]
        ctx = build_context(results, budget=budget, query=request)
        source = format_prompt(request, ctx)
        pairs.append((source, template_answer(request, ctx, with_paths=False, pointers=True)))
    log.info("generated %d training pairs (%d attempts)", len(pairs), attempts)
    return pairs
