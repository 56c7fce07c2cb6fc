"""Build retrieval evaluation sets from the labelled data of an ingested store, at run time.

* **mood**: hand-written request phrasings per mood (below), judged by the songs' mood labels
  (data_moods, MoodyLyrics, MoodyLyrics4Q, MPD gold playlist moods, as ingested into HAS_MOOD).
  Labelled songs are split in two by a hash of their key; the test half's labels are hidden from
  every index and from the graph, and results are restricted to the judged test songs.
* **like_specific**: the same requests judged by the artists *specific* to X's held-out fans (at
  least 3 of them play the artist, and its share among them is at least 3 times its share among all
  held-out users: lift >= 3, the characteristic gold of evaluation task 4).
* **like**: "songs like X" for HetRec artists, judged by co-listening among a held-out half of the
  users (whose LISTENED_TO edges the graph does not see): relevant songs are those by the 20
  artists most co-listened with X.

Only the generator and the phrasings are committed; the sets are derived from the data each run.
"""

from __future__ import annotations

from collections import Counter, defaultdict

# One definition of the phrasings, the stable half-split and the query types, shared with
# `musicgraph eval` (musicgraph/evaluation/tasks/evalsets.py).
from musicgraph.evaluation.tasks.evalsets import MOOD_QUERIES, EvalQuery, EvalSets  # noqa: E402
from musicgraph.evaluation.tasks.evalsets import half as _half  # noqa: E402
from musicgraph.graph.store import GraphStore

__all__ = ["MOOD_QUERIES", "EvalQuery", "EvalSets", "build"]


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
        # the same request judged by the artists specific to X's held-out fans: >= 3 of them play B and
        # B's share among them is >= 3 times its share among all held-out users (lift; task 4's gold)
        n_fans, n_users = len(fans[a]), len(test_users)
        specific = [b for b, c in co.items()
                    if c >= 3 and (c / n_fans) / (len(fans[b]) / n_users) >= 3.0]
        relevant_specific = {s for b in specific for s in perf[b]}
        if relevant_specific:
            out.queries.append(EvalQuery("like_specific", f"songs like {names.get(a, a)}", relevant_specific,
                                         target=a))
    return out
