"""Held-out evaluation sets of the retrieval tasks, built from an ingested store at run time.

Moved here from ``benchmarks/evalsets/build.py`` (which the retrieval benchmark used first) so the
``mood`` task of ``musicgraph eval`` and the benchmark share one generator:

* **mood requests**: hand-written phrasings per mood (:data:`MOOD_QUERIES`) and situation requests
  (:data:`SITUATION_QUERIES`, "music for a workout" -> energetic), judged by the songs' mood labels
  (data_moods, MoodyLyrics, MoodyLyrics4Q, MPD gold playlist moods, as ingested into ``HAS_MOOD``).
  Labelled songs are split in two by a salted SHA-1 of their key; the **test half's labels are hidden**
  from every index and from the graph (:func:`holdout_bundle`, ``HybridRetriever(hidden_moods=...)``),
  including what the graph derived from them: audio features that ``musicgraph features estimate``
  propagated over shared mood labels are re-estimated without the hidden labels
  (:func:`heldout_estimates`). Results are restricted to the judged test songs (the pool).
* **artist tags** (a second, weaker judge): an artist's top Last.fm tags that name the mood
  (:data:`MOOD_TAGS`). These tags are *not* hidden (BM25 documents and dense texts carry them), so
  the tag judgement is reported beside the label judgement, never instead of it.

Only the generator and the phrasings are code; the sets are derived from the data each run.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

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

#: Situation requests (no mood word in most of them) and the mood label that judges them.
SITUATION_QUERIES: dict[str, list[str]] = {
    "sad": ["music for a lonely sunday after she left", "songs for missing someone"],
    "happy": ["music for a summer road trip with friends", "songs for a birthday party"],
    "angry": ["music to smash things to", "songs to scream along to when I am furious"],
    "relaxed": ["background music for a lazy sunday morning", "music for a slow dinner at home"],
    "calm": ["music for meditation", "quiet music to read a book"],
    "energetic": ["music for a workout", "songs to get me moving in the morning"],
}

#: Last.fm tags that name each mood (the artist-tag judge).
MOOD_TAGS: dict[str, frozenset[str]] = {
    "sad": frozenset({"sad", "melancholy", "melancholic", "depressing", "sad songs", "heartbreak", "emo"}),
    "happy": frozenset({"happy", "feel good", "uplifting", "cheerful", "fun", "party", "summer"}),
    "angry": frozenset({"aggressive", "angry", "rage", "brutal", "hardcore", "metal", "thrash metal"}),
    "relaxed": frozenset({"chill", "chillout", "relax", "relaxing", "mellow", "laid back", "lounge", "easy listening"}),
    "calm": frozenset({"calm", "peaceful", "ambient", "soothing", "relaxing", "piano", "instrumental"}),
    "energetic": frozenset({"energetic", "upbeat", "dance", "workout", "party", "electronic", "hard rock"}),
}


def half(key: str, salt: str = "eval") -> int:
    """0 or 1 from a salted SHA-1 of ``key`` (stable across runs and machines)."""
    return int(hashlib.sha1(f"{salt}:{key}".encode()).hexdigest(), 16) % 2


@dataclass(slots=True)
class EvalQuery:
    """One request with its judged answers.

    Attributes:
        kind: ``mood`` or ``situation`` (or ``like`` in the benchmark's sets).
        text: the request in words.
        relevant: song keys judged relevant.
        pool: the judged candidates results are restricted to (None: the whole catalog).
        target: the mood (or artist) the request is about.
    """

    kind: str
    text: str
    relevant: set[str]
    pool: set[str] | None = None
    target: str = ""


@dataclass(slots=True)
class EvalSets:
    """Queries plus what must be hidden from the systems."""

    queries: list[EvalQuery] = field(default_factory=list)
    hidden_moods: set[str] = field(default_factory=set)
    hidden_users: set[str] = field(default_factory=set)
    labels: dict[str, set[str]] = field(default_factory=dict)


def song_mood_labels(store: GraphStore) -> dict[str, set[str]]:
    """Song key -> its mood labels (``HAS_MOOD`` edges from songs)."""
    labels: dict[str, set[str]] = defaultdict(set)
    for e in store.iter_edges("HAS_MOOD"):
        if e.src.label == "Song":
            labels[e.src.key].add(e.dst.key)
    return dict(labels)


def build_mood_sets(
    store: GraphStore, phrasings: int | None = None, situations: bool = True, salt: str = "eval"
) -> EvalSets:
    """Mood and situation requests judged by the held-out half of the songs' mood labels.

    Args:
        store: an ingested store (read only).
        phrasings: keep the first ``phrasings`` requests per mood and kind (None: all).
        situations: add the situation requests.
        salt: the hash salt of the test/visible split (``"eval"`` is the committed protocol).
    """
    out = EvalSets()
    labels = song_mood_labels(store)
    test = {k for k in labels if half(k, salt) == 0}
    out.hidden_moods = test
    out.labels = {k: labels[k] for k in test}
    sources = [("mood", MOOD_QUERIES)] + ([("situation", SITUATION_QUERIES)] if situations else [])
    for kind, table in sources:
        for mood, texts in table.items():
            relevant = {k for k in test if mood in labels[k]}
            if not relevant:
                log.warning("no held-out song has the mood %r: its %s requests are skipped", mood, kind)
                continue
            for t in texts[:phrasings] if phrasings else texts:
                out.queries.append(EvalQuery(kind, t, relevant, pool=test, target=mood))
    return out


def split_digest(hidden_moods: Collection[str]) -> str:
    """A short SHA-1 of a held-out split (its sorted song keys): what caches derived from it are keyed by."""
    return hashlib.sha1("\n".join(sorted(hidden_moods)).encode()).hexdigest()[:12]


def heldout_estimates(store: GraphStore, catalog: Any, hidden_moods: Collection[str]) -> np.ndarray:
    """Re-estimate, in ``catalog``, the graph-estimated audio features without the hidden mood labels.

    ``musicgraph features estimate`` propagates features over songs that share a mood label, among
    other relations, and stores the result (``features_estimated``). Estimated rows read from such a
    store carry the held-out songs' labels (an "energetic" song gets the energy of other energetic
    songs). Their values are replaced by :func:`musicgraph.graph.features.estimate` over the graph
    without the hidden songs' ``HAS_MOOD`` edges, rounded as stored (NaN where nothing is reachable
    without them). Measured features are never touched.

    Returns:
        The catalog rows whose features changed.
    """
    from musicgraph.graph.features import estimate
    from musicgraph.graph.heldout import without_song_moods
    from musicgraph.retrieval.catalog import FEATURES

    rows = np.flatnonzero(catalog.estimated_flags())
    if len(rows) == 0 or not hidden_moods:
        return np.zeros(0, dtype=np.int64)
    est = estimate(store, projection=without_song_moods(store.projection(), hidden_moods))
    cols = [(j, FEATURES.index(f)) for j, f in enumerate(est.features) if f in FEATURES]
    pos = {k: i for i, k in enumerate(est.keys)}
    before = catalog.features[rows].copy()
    for r in rows.tolist():
        i = pos.get(catalog.keys[r])
        for j, c in cols:
            catalog.features[r, c] = np.nan if i is None else round(float(est.values[i, j]), 4)
    after = catalog.features[rows]
    differs = ~((before == after) | (np.isnan(before) & np.isnan(after))).all(axis=1)
    log.info("re-estimated the audio features of %d songs without the held-out mood labels (%d changed)",
             len(rows), int(differs.sum()))
    return rows[differs]


def holdout_bundle(store: GraphStore, bundle: Any, hidden_moods: set[str], cache: Path | None = None,
                   encode: bool = True, encoder: Any = None) -> tuple[Any, str | None]:
    """``bundle`` with the held-out songs' mood labels removed from every index.

    The catalog is rebuilt with ``hidden_moods`` and its estimated audio features re-estimated without
    them (:func:`heldout_estimates`), BM25 is rebuilt over the new documents, and the dense vectors of
    the songs whose text changed are re-encoded (``encoder``, default MiniLM). Re-encoded vectors are
    cached in ``cache`` as ``holdout_vectors_<split digest>_<text digest>.npy``: keyed by the split
    (:func:`split_digest`) and by the exact texts encoded, so another split, or the same split over a
    changed store, never reads them. When re-encoding is not allowed (``encode=False``, the quick run)
    and no cached vectors exist, the dense index is dropped and the reason returned.

    Returns:
        ``(bundle, reason_dense_dropped_or_None)``.
    """
    from musicgraph.retrieval.catalog import SongTable
    from musicgraph.retrieval.index import IndexBundle, lyrics_of
    from musicgraph.retrieval.sparse import SparseIndex
    from musicgraph.retrieval.text import tokenize

    cat = SongTable.from_store(store, hidden_moods=hidden_moods, previous=bundle.catalog)
    heldout_estimates(store, cat, hidden_moods)
    rows = list(range(len(cat)))
    lyr = lyrics_of(store, cat, rows)
    sparse = SparseIndex().build([tokenize(cat.document(i, lyr.get(i))) if cat.alive[i] else [] for i in rows])
    dense = bundle.dense
    reason = None
    if dense is not None and getattr(dense, "vectors", None) is not None:
        from musicgraph.retrieval.dense import DenseIndex
        from musicgraph.retrieval.encoder import Encoder
        from musicgraph.retrieval.textualize import textualize

        vecs = np.array(dense.vectors, dtype=np.float32)
        old = bundle.catalog
        changed = [i for i in rows if i < len(old) and (cat.moods[i] != old.moods[i] or not _same_values(
            cat.features[i], old.features[i]))]
        texts = [textualize(cat, i, lyr.get(i), bundle.emotion_words[i]) for i in changed]
        text_digest = hashlib.sha1("\x00".join(f"{cat.keys[i]}\x01{t}" for i, t in zip(changed, texts, strict=True))
                                   .encode()).hexdigest()[:12]
        cached = cache / f"holdout_vectors_{split_digest(hidden_moods)}_{text_digest}.npy" if cache else None
        if not changed:
            pass
        elif cached is not None and cached.is_file():
            vecs[changed] = np.load(cached)
            log.info("held-out dense vectors of %d songs read from %s", len(changed), cached)
        elif encode:
            log.info("re-encoding %d songs without their held-out mood labels", len(changed))
            enc = encoder or Encoder()
            vecs[changed] = getattr(enc, "encode_documents", enc.encode)(texts, batch_size=64)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.save(cached, vecs[changed])
        else:
            vecs = None
            reason = (f"dense skipped: {len(changed)} songs would need re-encoding without their held-out "
                      "mood labels (MiniLM on CPU, minutes); the full run encodes and caches them")
        dense = DenseIndex(kind="flat").build(vecs) if vecs is not None else None
    elif dense is None:
        reason = f"the index in {bundle.directory} has no dense vectors (built with --no-dense)"
    new = IndexBundle(bundle.directory, cat, sparse, dense, bundle.emotions, bundle.emotion_words,
                      {**bundle.manifest, "store_version": store.version()})
    return new, reason


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(((a == b) | (np.isnan(a) & np.isnan(b))).all())
