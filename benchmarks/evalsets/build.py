"""Build retrieval evaluation sets from the labelled data of an ingested store, at run time.

* **mood**: hand-written request phrasings per mood (below), judged by the songs' mood labels
  (data_moods, MoodyLyrics, MoodyLyrics4Q, MPD gold playlist moods, as ingested into HAS_MOOD).
  Labelled songs are split in two by a hash of their key; the test half's labels are hidden from
  every index and from the graph, and results are restricted to the judged test songs.
* **like**: "songs like X" for HetRec artists, judged by co-listening among a held-out half of the
  users (whose LISTENED_TO edges the graph does not see): relevant songs are those by the 20
  artists most co-listened with X.

Only the generator and the phrasings are committed; the sets are derived from the data each run.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from musicgraph.graph.store import GraphStore

MOOD_QUERIES: dict[str, list[str]] = {
    "sad": ["sad songs", "songs to cry to", "melancholic music for a rainy night", "heartbreak songs after a breakup",
            "depressing lonely songs"],
    "happy": ["happy songs", "feel good music to smile", "cheerful upbeat songs", "joyful songs for a sunny day",
              "happy party songs"],
    "angry": ["angry songs", "aggressive music full of rage", "furious loud songs", "songs for when I am mad",
              "rage music"],
    "relaxed": ["relaxing music", "chill songs to unwind", "mellow relaxed tunes", "soothing songs for the evening",
                "laid back chill music"],
    "calm": ["calm music", "peaceful quiet songs", "calm songs to study to", "soft calm music for sleep",
             "tranquil gentle songs"],
    "energetic": ["energetic songs", "high energy workout music", "pump up songs for the gym",
                  "energetic songs for running", "hype songs"],
}


def _half(key: str, salt: str = "eval") -> int:
    return int(hashlib.sha1(f"{salt}:{key}".encode()).hexdigest(), 16) % 2


@dataclass(slots=True)
class EvalQuery:
    kind: str
    text: str
    relevant: set[str]
    pool: set[str] | None = None  # judged candidates (None: the whole catalog)
    target: str = ""


@dataclass(slots=True)
class EvalSets:
    queries: list[EvalQuery] = field(default_factory=list)
    hidden_moods: set[str] = field(default_factory=set)
    hidden_users: set[str] = field(default_factory=set)


def build(store: GraphStore, like_artists: int = 60, top_co: int = 20, min_listeners: int = 8) -> EvalSets:
    """Mood and "like X" evaluation queries from ``store`` (see the module docstring)."""
    out = EvalSets()
    labels: dict[str, set[str]] = defaultdict(set)
    for e in store.iter_edges("HAS_MOOD"):
        if e.src.label == "Song":
            labels[e.src.key].add(e.dst.key)
    test = {k for k in labels if _half(k) == 0}
    out.hidden_moods = test
    for mood, texts in MOOD_QUERIES.items():
        relevant = {k for k in test if mood in labels[k]}
        if not relevant:
            continue
        for t in texts:
            out.queries.append(EvalQuery("mood", t, relevant, pool=test, target=mood))

    listens: dict[str, set[str]] = defaultdict(set)
    for e in store.iter_edges("LISTENED_TO"):
        listens[e.src.key].add(e.dst.key)
    test_users = {u for u in listens if _half(u, "users") == 0}
    out.hidden_users = test_users
    songs_by_artist: Counter[str] = Counter()
    for e in store.iter_edges("PERFORMED_BY"):
        songs_by_artist[e.dst.key] += 1
    fans: dict[str, set[str]] = defaultdict(set)
    for u in test_users:
        for a in listens[u]:
            fans[a].add(u)
    candidates = sorted((a for a in fans if len(fans[a]) >= min_listeners and songs_by_artist[a] >= 3),
                        key=lambda a: (-len(fans[a]), a))
    names = {n.key: n.name for n in store.iter_nodes("Artist")}
    perf: dict[str, list[str]] = defaultdict(list)
    for e in store.iter_edges("PERFORMED_BY"):
        perf[e.dst.key].append(e.src.key)
    step = max(1, len(candidates) // like_artists)
    for a in candidates[::step][:like_artists]:
        co: Counter[str] = Counter()
        for u in fans[a]:
            co.update(b for b in listens[u] if b != a and songs_by_artist[b] > 0)
        top = [b for b, _ in co.most_common(top_co)]
        relevant = {s for b in top for s in perf[b]}
        if relevant:
            out.queries.append(EvalQuery("like", f"songs like {names.get(a, a)}", relevant, target=a))
    return out
