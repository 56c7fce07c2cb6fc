"""Hybrid retrieval: a free-text request -> ranked songs with per-component scores and evidence.

Pipeline (every stage can be switched off for ablations)::

    request --parse--> seeds, exclusions, mood target, feature ranges, terms
            --BM25 (terms)----------------\\
            --dense (MiniLM + FAISS)-------+--> RRF or weighted linear fusion
            --graph (PPR from seeds/user)-/         |
                                    emotion + audio-feature rerank
                                                    |
                                per-artist cap, MMR on embeddings --> list[Result]

With no retrieval component left (all off, or nothing matched), songs are ranked by how well they
fit the parsed mood and features, tie-broken by popularity, and every result says so in
``evidence["fallback"]``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.graph.results import Result
from musicgraph.graph.store import GraphStore
from musicgraph.retrieval.emotion import EMOTION_FIELDS, MOOD_VA, EmotionAnalyzer, calibrate
from musicgraph.retrieval.fusion import (
    FusionConfig,
    artist_cap,
    emotion_match,
    feature_match,
    mmr,
    rerank,
    rrf,
    weighted_linear,
)
from musicgraph.retrieval.index import IndexBundle, default_index_dir
from musicgraph.retrieval.query import LexiconParser, ParsedQuery, QueryError
from musicgraph.retrieval.text import tokenize

log = logging.getLogger(__name__)

MAX_K = 1000
#: Weight of graph-estimated audio features (``features_estimated``) relative to measured ones.
ESTIMATED_WEIGHT = 0.5
COMPONENTS: tuple[str, ...] = ("bm25", "dense", "graph", "emotion", "audio")


@dataclass(slots=True)
class _Component:
    ranking: list[int]
    scores: dict[int, float]


class _StageClock:
    """Wall seconds per pipeline stage (``HybridRetriever.last_timings``)."""

    __slots__ = ("stages", "_t")

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - self._t
        self._t = now


class HybridRetriever:
    """The hybrid retriever over one store and its index bundle.

    Args:
        store: the graph store the indexes were built from.
        bundle: loaded indexes (default: read from ``index_dir``).
        index_dir: where the indexes are (default ``MUSICGRAPH_HOME/indexes/<store name>``).
        encoder: query encoder (default MiniLM, loaded on first dense query).
        config: fusion settings.
        hidden_moods: song keys whose mood labels the graph must not see (held-out evaluation;
            the bundle must have been built with the same set).
        hidden_users: user keys whose LISTENED_TO edges the graph must not see (held-out evaluation).
        vad: NRC-VAD table (default: read from ``MUSICGRAPH_DATA_DIR``).
        parser: a request parser (default :class:`LexiconParser`; see :class:`LLMParser`).
        parallel_encode: encode the dense query on a worker thread while BM25 and the graph walk
            run (same results; lower latency when a second core is free).

    After each :meth:`retrieve`, ``last_timings`` holds the wall seconds of its stages (``parse``,
    ``mask``, ``bm25``, ``graph``, ``dense_encode`` (the wait for the encoder; its own time is
    ``dense_encode_worker``), ``dense_search``, ``fusion``, ``results``; a stage that did not run is
    absent), for latency breakdowns (``benchmarks/bench_retrieve.py``).
    """

    def __init__(
        self,
        store: GraphStore,
        bundle: IndexBundle | None = None,
        index_dir: Path | None = None,
        encoder: Any = None,
        config: FusionConfig | None = None,
        hidden_moods: Collection[str] = (),
        hidden_users: Collection[str] = (),
        vad: Any = None,
        data_dir: Path | None = None,
        parser: Any = None,
        parallel_encode: bool = True,
    ):
        self.store = store
        self.bundle = bundle or IndexBundle.load(index_dir or default_index_dir())
        self.catalog = self.bundle.catalog
        self.config = config or FusionConfig()
        self._encoder = encoder
        self._hidden = frozenset(hidden_moods)
        self._hidden_users = frozenset(hidden_users)
        self.emotion = EmotionAnalyzer(data_dir=data_dir, vad=vad)
        self._graph: Any = None
        self._linker: Any = None
        self._parser = parser
        self._lock = threading.Lock()
        self.last_timings: dict[str, float] = {}
        #: encode the dense query on a worker thread while BM25 and the graph walk run
        self.parallel_encode = parallel_encode
        self._pool: ThreadPoolExecutor | None = None
        if self.bundle.manifest.get("store_version") not in (None, store.version()):
            log.warning("retrieval index in %s was built from store version %s, the store is now at %s: "
                        "run `musicgraph index build` to refresh it", self.bundle.directory,
                        self.bundle.manifest.get("store_version"), store.version())
        self._prepare_emotion_sources()

    # ------------------------------------------------------------ lazy parts
    def _prepare_emotion_sources(self) -> None:
        cat, emo = self.catalog, self.bundle.emotions
        n = len(cat)
        text_v = calibrate(emo[:, EMOTION_FIELDS.index("vad_valence")])
        text_a = calibrate(emo[:, EMOTION_FIELDS.index("vad_arousal")])
        audio_v, audio_a = cat.feature("valence").astype(np.float32), cat.feature("energy").astype(np.float32)
        label_v = np.full(n, np.nan, dtype=np.float32)
        label_a = np.full(n, np.nan, dtype=np.float32)
        tag_v = np.full(n, np.nan, dtype=np.float32)
        tag_a = np.full(n, np.nan, dtype=np.float32)
        tag_cache: dict[str, tuple[float, float] | None] = {}
        for i in range(n):
            vas = [MOOD_VA[m] for m in cat.moods[i] if m in MOOD_VA]
            if vas:
                label_v[i] = sum(v for v, _ in vas) / len(vas)
                label_a[i] = sum(a for _, a in vas) / len(vas)
            akey = cat.artist_keys[i]
            if akey not in tag_cache:
                toks = [t for tag in cat.artist_tags.get(akey, [])[:8] for t in tokenize(tag)]
                tag_cache[akey] = self.emotion.words_va(toks) if toks else None
            va = tag_cache[akey]
            if va is not None:
                tag_v[i], tag_a[i] = va
        self._emotion_sources = [(text_v, text_a, 1.0), (label_v, label_a, 1.5), (tag_v, tag_a, 0.5)]
        self._audio_va = (audio_v, audio_a, 1.0)
        est = cat.estimated_flags()
        nan = np.float32(np.nan)
        self._audio_va_sources = [
            (np.where(est, nan, audio_v), np.where(est, nan, audio_a), 1.0),
            (np.where(est, audio_v, nan), np.where(est, audio_a, nan), ESTIMATED_WEIGHT),
        ]
        pop = cat.feature("popularity").astype(np.float64)
        self._popularity = np.where(np.isnan(pop), 0.0, pop / 100.0)
        # last-resort tie order: popularity, then a fixed pseudo-random order of the rows (not the
        # alphabetical row order, which would put "A..." artists first among equals)
        self._tie_order = np.random.default_rng(0).permutation(len(cat.keys)).astype(np.float64)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from musicgraph.retrieval.dense import Encoder

            self._encoder = Encoder()
        return self._encoder

    @property
    def graph(self) -> Any:
        """The graph component (built on first use: the projection and PPR operator)."""
        with self._lock:
            if self._graph is None:
                from musicgraph.retrieval.graph import GraphComponent

                self._graph = GraphComponent(self.store.projection(), self.catalog, hidden_moods=self._hidden,
                                             hidden_users=self._hidden_users)
            return self._graph

    @property
    def linker(self) -> Any:
        with self._lock:
            if self._linker is None:
                from musicgraph.retrieval.graph import EntityLinker

                self._linker = EntityLinker(self.store.projection(), self.catalog, vocabulary=self.emotion.vad.keys())
            return self._linker

    @property
    def parser(self) -> Any:
        if self._parser is None:
            self._parser = LexiconParser(self.linker, self.emotion)
        return self._parser

    def warm_up(self, dense: bool = True, freeze_gc: bool = True) -> None:
        """Load the projection, linker, PPR operator and (optionally) the encoder ahead of queries.

        Also walks every mood node once (the walks are cached), builds the explanation tables, the
        filter indexes and the dense prefilter, and traces the single-query encoder.

        Args:
            dense: also load the query encoder and prepare the dense index.
            freeze_gc: ``gc.freeze()`` once everything is loaded: the catalog, linker and indexes
                are close to a million Python objects, and a full cyclic collection walking them
                stalls a query for ~0.7 s every few hundred queries; frozen objects are skipped by
                the collector (and still freed by reference counting). Process-wide; unfrozen at exit.
        """
        from musicgraph.retrieval.filters import warm_indexes

        _ = self.graph, self.parser
        if hasattr(self.graph, "warm_up"):
            self.graph.warm_up()
        warm_indexes(self.catalog)
        if dense and self.bundle.dense is not None:
            enc = self.encoder
            if hasattr(enc, "encode_query"):
                enc.encode_query("warm up")  # also traces the single-query fast path
            else:
                enc.encode(["warm up"])
            if hasattr(self.bundle.dense, "prepare"):
                self.bundle.dense.prepare()
        if freeze_gc:
            _freeze_gc()

    # ---------------------------------------------------------------- public
    def parse(self, query: str) -> ParsedQuery:
        """The structured form of ``query`` (see :mod:`musicgraph.retrieval.query`)."""
        return self.parser.parse(query)

    def retrieve(
        self,
        query: str | ParsedQuery,
        k: int = 10,
        user: str | None = None,
        exclude_known: bool = True,
        filters: Mapping[str, Any] | None = None,
        use_bm25: bool = True,
        use_dense: bool = True,
        use_graph: bool = True,
        use_emotion: bool = True,
        use_audio: bool = True,
        explain: bool = False,
        config: FusionConfig | None = None,
        use_trending: bool = False,
    ) -> list[Result]:
        """Top-``k`` songs for a free-text request (see the module docstring).

        Args:
            query: the request, or an already parsed one.
            k: number of results, 1..1000 (larger values are capped at 1000 and at the catalog size).
            user: a user key (``hetrec:2``) whose listening seeds the graph walk.
            exclude_known: leave out the user's known songs and songs named as seeds.
            filters: hard filters applied inside every component (:mod:`musicgraph.retrieval.filters`):
                ``keys``, ``artists``/``exclude_artists``, ``genres``/``tags``/``moods``, ranges such
                as ``{"year": (1990, 1999), "energy": (0.5, None)}``, ``explicit``, ``duplicates``,
                ``not_known_by`` (a user key), ``estimated``.
            use_bm25, use_dense, use_graph, use_emotion, use_audio: component switches.
            explain: add ``evidence["explain"]`` lines per result (parsed request, component ranks).
            config: fusion settings for this call (default: the retriever's).
            use_trending: boost songs on the current trend lists (``musicgraph trends fetch``; off by
                default, see :mod:`musicgraph.retrieval.trending`).

        Raises:
            QueryError: empty request. ValueError: ``k`` below 1 or a bad filter.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive integer (1..{MAX_K}), got {k!r}")
        cfg = config or self.config
        notes: list[str] = []
        alive_n = int(self.catalog.alive.sum())
        if k > MAX_K or k > alive_n:
            notes.append(f"k={k} capped at {min(MAX_K, alive_n)}")
            k = min(MAX_K, alive_n)
        clock = _StageClock()
        q = query if isinstance(query, ParsedQuery) else self.parse(query)
        clock.lap("parse")
        dense_text = (q.dense_text or q.text) if use_dense and self.bundle.dense is not None else ""
        dense_job = self._start_encoding(dense_text) if dense_text.strip() else None
        if dense_job is not None and not self.parallel_encode:
            clock.lap("dense_encode")
        notes += q.notes
        mask = self._mask(q, filters)
        if q.filters:
            # filters the parser read from the request ("90s", "no Coldplay", "instrumental");
            # explicit ``filters`` win on the same name, and parsed ones that empty the catalog are dropped
            parsed = {k: v for k, v in q.filters.items() if k not in (filters or {})}
            pmask = mask & self._filter_mask(parsed)
            if parsed and pmask.any():
                mask = pmask
            elif parsed:
                notes.append("the filters read from the request (" + ", ".join(parsed) + ") match no song: ignored")
        seed_index: dict[int, float] = {}
        if use_graph or (user is not None and exclude_known):
            # Entities, tags/genres and moods are walked separately and combined conjunctively
            # (GraphComponent.score), so a mood node linking thousands of songs cannot drown the
            # neighbourhood of a named artist.
            seed_index = self.graph.seed_indexes(q.seeds, user=user, moods=q.moods)
        if exclude_known and seed_index:
            for r in self.graph.known_rows({i: w for i, w in seed_index.items()
                                            if self._is_user_or_song(i)}):
                mask[r] = False
        if not mask.any():
            raise QueryError("the filters and exclusions leave no song in the catalog")
        clock.lap("mask")

        comps: dict[str, _Component] = {}
        pool = max(cfg.pool, k * 3)
        bm25_terms: dict[int, list[str]] = {}
        if use_bm25 and self.bundle.sparse is not None and q.terms:
            hits = self.bundle.sparse.search(q.terms, k=pool, mask=mask)
            if hits:
                comps["bm25"] = _Component([h.row for h in hits], {h.row: h.score for h in hits})
                bm25_terms = {h.row: h.terms for h in hits}
        clock.lap("bm25")
        qvec = None
        gs = None
        graph_comp = None
        if use_graph and seed_index:  # (the query encoder runs meanwhile, see _start_encoding)
            gs = self.graph.score(seed_index)
            gscores = np.where(mask, gs.scores, 0.0)
            nz = np.flatnonzero(gscores > 0)
            if len(nz) > pool:
                nz = nz[np.argpartition(-gscores[nz], pool - 1)[:pool]]
            if len(nz):
                top = nz[np.lexsort((self._tie_order[nz], -self._popularity[nz], -gscores[nz]))]
                graph_comp = _Component(top.tolist(), {int(r): float(gscores[r]) for r in top})
            clock.lap("graph")
        if dense_job is not None:
            qvec, enc_seconds = dense_job.result()
            clock.lap("dense_encode")
            clock.stages["dense_encode_worker"] = enc_seconds
            # exact top-k among the allowed rows (ID selection / brute force inside DenseIndex)
            scores, rows = self.bundle.dense.search(qvec[None, :], k=pool, mask=mask)
            ranking = [int(r) for r in rows[0] if r >= 0]
            if ranking:
                smap = dict(zip(rows[0].tolist(), scores[0].tolist(), strict=True))
                comps["dense"] = _Component(ranking, {r: float(smap[r]) for r in ranking})
            clock.lap("dense_search")
        if graph_comp is not None:
            comps["graph"] = graph_comp

        if "bm25" not in comps and not seed_index and q.mood_target is None and not q.features and not filters:
            # nothing in the request is known to the catalog: dense neighbours of gibberish are noise
            unknown = [t for t in q.terms if self.bundle.sparse is None or t not in self.bundle.sparse.vocabulary]
            comps.pop("dense", None)
            notes.append("nothing in the request matched the catalog"
                         + (f" (unknown words: {', '.join(unknown[:5])})" if unknown else ""))

        # fusion
        if comps:
            weights = dict(cfg.weights)
            if q.seeds and not q.terms and q.mood_target is None and not q.features:
                weights["dense"] = weights.get("dense", 1.0) * cfg.entity_only_dense
            if cfg.method == "rrf":
                fused = rrf({c: comp.ranking for c, comp in comps.items()}, k=cfg.rrf_k, weights=weights)
            elif cfg.method == "linear":
                fused = weighted_linear({c: comp.scores for c, comp in comps.items()}, weights)
            else:
                raise ValueError(f"unknown fusion method {cfg.method!r}; expected 'rrf' or 'linear'")
            cand = np.fromiter(fused.keys(), dtype=np.int64)
            fallback = None
        else:
            cand = np.flatnonzero(mask)
            fused = None
            fallback = self._fallback_reason(q, use_bm25, use_dense, use_graph)
            notes.append(fallback)

        # rerank by emotion and audio features
        emo = aud = None
        feat_ev: list[list[str]] = [[] for _ in range(len(cand))]
        if use_emotion and (q.mood_target is not None or q.exclude_moods):
            sources = [(v[cand], a[cand], w) for v, a, w in self._emotion_sources]
            if not use_audio or not q.features:
                for v, a, w in self._audio_va_sources:
                    sources.append((v[cand], a[cand], w))
            excl = [MOOD_VA[m] for m in q.exclude_moods if m in MOOD_VA]
            emo = emotion_match(q.mood_target, sources, excl)
        if use_audio and q.features:
            aud, feat_ev = feature_match(self.catalog.features[cand], q.features)
            est = self.catalog.estimated_flags()[cand]
            if est.any():  # graph estimates count, with less weight than measured features
                aud = np.where(est, 0.5 + ESTIMATED_WEIGHT * (aud - 0.5), aud).astype(np.float32)
                feat_ev = [[f + " (estimated)" for f in ev] if e else ev for ev, e in zip(feat_ev, est, strict=True)]
        if fused is None:
            # fallback: fit to mood/features, then popularity
            base = np.zeros(len(cand))
            if emo is not None:
                base += emo
            if aud is not None:
                base += aud
            base += 0.05 * self._popularity[cand]
            fused = dict(zip(cand.tolist(), base.tolist(), strict=True))
            final = fused
        else:
            final = rerank(
                fused,
                None if emo is None else dict(zip(cand.tolist(), emo.tolist(), strict=True)),
                None if aud is None else dict(zip(cand.tolist(), aud.tolist(), strict=True)),
                emotion_weight=cfg.emotion_weight,
                audio_weight=cfg.audio_weight,
            )
        trend = None
        if use_trending:  # a rerank among the candidates: trending songs move up, nothing unrelated comes in
            from musicgraph.retrieval.trending import TRENDING_WEIGHT

            trend = self.trending_values()
            final = {r: v * (1.0 + TRENDING_WEIGHT * float(trend[r])) for r, v in final.items()}
        # by score, then popularity, then the fixed tie order (a permutation: a total order)
        rows_f = np.fromiter(final.keys(), dtype=np.int64, count=len(final))
        vals_f = np.fromiter(final.values(), dtype=np.float64, count=len(final))
        order = rows_f[np.lexsort((self._tie_order[rows_f], -self._popularity[rows_f], -vals_f))].tolist()
        # MMR looks at the first 5k rows only (the order itself without vectors)
        order = artist_cap(order, self.catalog.artist_keys, cfg.per_artist, limit=max(k * 5, k))
        vectors = self.bundle.dense.vectors if self.bundle.dense is not None else None
        chosen = mmr(order, final, vectors, k, cfg.mmr_lambda)
        clock.lap("fusion")

        pos = {int(r): i for i, r in enumerate(cand.tolist())}
        comp_ranks = {c: {r: i + 1 for i, r in enumerate(comp.ranking)} for c, comp in comps.items()}
        emo_rank = aud_rank = None
        if emo is not None:
            emo_rank = {int(cand[j]): i + 1 for i, j in enumerate(np.argsort(-emo, kind="stable"))}
        if aud is not None:
            aud_rank = {int(cand[j]): i + 1 for i, j in enumerate(np.argsort(-aud, kind="stable"))}
        nodes = self.store.get_nodes("Song", [self.catalog.keys[r] for r in chosen])
        results = []
        for rank, row in enumerate(chosen, start=1):
            key = self.catalog.keys[row]
            scores: dict[str, float] = {}
            ranks: dict[str, int] = {}
            for c, comp in comps.items():
                if row in comp.scores:
                    scores[c] = comp.scores[row]
                    ranks[c] = comp_ranks[c][row]
            if emo is not None:
                scores["emotion"] = float(emo[pos[row]])
                ranks["emotion"] = emo_rank[row] if emo_rank else 0
            if aud is not None:
                scores["audio"] = float(aud[pos[row]])
                ranks["audio"] = aud_rank[row] if aud_rank else 0
            scores["fused"] = float(fused[row])
            evidence = self._evidence(q, row, bm25_terms.get(row, []), feat_ev[pos[row]] if aud is not None else [])
            if fallback:
                evidence["fallback"] = [fallback]
            if trend is not None and trend[row] > 0:
                scores["trending"] = float(trend[row])
                evidence["trending"] = [self._trending.value(key, self.catalog.artists[row])[1]]
            paths = self.graph.paths(gs, row, top=2) if gs is not None and "graph" in scores else []
            node = nodes.get(key)
            res = Result(
                rank=rank, kind="song", id=key, name=self.catalog.titles[row], score=float(final[row]),
                artist=self.catalog.artists[row], title=self.catalog.titles[row], scores=scores, ranks=ranks,
                paths=paths, evidence=evidence, props=dict(node.props) if node else {},
            )
            if explain:
                res.evidence["explain"] = self._explain_lines(q, res, notes)
            results.append(res)
        if user is not None:  # a personal profile's paths read "you played X n times → ..."
            from musicgraph.graph.profile import personalize_paths

            personalize_paths(self.store, user, results)
        clock.lap("results")
        if notes:
            log.info("retrieve(%r): %s", q.text[:80], "; ".join(notes))
        self.last_query = q
        self.last_notes = notes
        self.last_timings = clock.stages
        return results

    # ------------------------------------------------------------- helpers
    def _start_encoding(self, text: str) -> Any:
        """Encode the dense query text, on the worker thread when ``parallel_encode`` (else now).

        The returned object's ``result()`` is ``(vector, seconds)``. Torch and scipy release the GIL
        in their kernels, so the encoder (one thread) overlaps the BM25 search and the graph walk
        on a second core; on a single free core it costs the same as running it inline.
        """
        enc = self.encoder

        def job() -> tuple[np.ndarray, float]:
            t0 = time.perf_counter()
            vec = enc.encode_query(text) if hasattr(enc, "encode_query") else enc.encode([text])[0]
            return vec, time.perf_counter() - t0

        if not self.parallel_encode:
            done: Future[tuple[np.ndarray, float]] = Future()
            done.set_result(job())
            return done
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="musicgraph-encode")
        return self._pool.submit(job)

    def trending_values(self) -> np.ndarray:
        """The trend value of every catalog row (from ``MUSICGRAPH_HOME/trends/current.json``, reloaded when
        the file or the catalog changes)."""
        from musicgraph.retrieval.trending import TrendingSignal, trends_path

        path = trends_path()
        stamp = path.stat().st_mtime_ns if path.exists() else None
        cached = self.__dict__.get("_trend_values")
        if cached is None or cached[0] is not self.catalog or cached[1] != (path, stamp):
            self._trending = TrendingSignal.load(path)
            cached = self.__dict__["_trend_values"] = (
                self.catalog, (path, stamp), self._trending.row_values(self.catalog.keys, self.catalog.artist_keys))
        return cached[2]

    def _is_user_or_song(self, idx: int) -> bool:
        proj = self.graph.projection
        for label in ("User", "Song"):
            lo, hi = proj.label_ranges.get(label, (0, 0))
            if lo <= idx < hi:
                return True
        return False

    def _mask(self, q: ParsedQuery, filters: Mapping[str, Any] | None) -> np.ndarray:
        cat = self.catalog
        mask = cat.alive.copy()
        for seed in q.exclude:
            if seed.label == "Artist":
                mask[cat.rows_of_artist(seed.key)] = False
            elif seed.label == "Song":
                r = cat.row(seed.key)
                if r is not None:
                    mask[r] = False
            else:  # a tag, genre or mood name on the song (case-insensitive)
                from musicgraph.retrieval.filters import rows_with_any

                for column in (cat.tags, cat.genres, cat.moods):
                    mask &= ~rows_with_any(column, [seed.name])
        by = [s for s in q.seeds if s.role == "by" and s.label == "Artist"]
        if by:
            keep = np.zeros_like(mask)
            for s in by:
                keep[cat.rows_of_artist(s.key)] = True
            mask &= keep
        for s in q.seeds:
            if s.role == "like" and s.label == "Artist":
                mask[cat.rows_of_artist(s.key)] = False
            if s.label == "Song":
                r = cat.row(s.key)
                if r is not None:
                    mask[r] = False
        if filters:
            mask &= self._filter_mask(filters)
        return mask

    def _filter_mask(self, filters: Mapping[str, Any]) -> np.ndarray:
        from musicgraph.retrieval.filters import filter_mask

        return filter_mask(self.catalog, filters, known_rows=self.known_rows_of_user)

    def known_rows_of_user(self, user: str) -> set[int]:
        """Catalog rows of songs a user already knows (by artists they listened to)."""
        idx = self.graph.seed_indexes([], user=user)
        return self.graph.known_rows(idx)

    @staticmethod
    def _fallback_reason(q: ParsedQuery, use_bm25: bool, use_dense: bool, use_graph: bool) -> str:
        if not (use_bm25 or use_dense or use_graph):
            what = "all retrieval components are switched off"
        else:
            what = "no retrieval component found a match"
        fit = [x for x, on in (("mood", q.mood_target is not None), ("features", bool(q.features))) if on]
        return f"{what}: songs ranked by fit to the parsed {' and '.join(fit) or 'request'}, then popularity"

    def _meta_tokens(self, row: int) -> dict[str, set[str]]:
        """Title/artist/album, tag/genre and mood tokens of a catalog row (a bounded cache per catalog)."""
        cat = self.catalog
        cache = self.__dict__.get("_meta_cache")
        if cache is None or cache[0] is not cat:
            cache = self.__dict__["_meta_cache"] = (cat, {})
        hit = cache[1].get(row)
        if hit is None:
            hit = {
                "title": set(tokenize(cat.titles[row])) | set(tokenize(cat.artists[row])) | set(tokenize(cat.albums[row])),
                "tags": {t for tag in (*cat.tags[row], *cat.genres[row]) for t in tokenize(tag)},
                "moods": {t for m in cat.moods[row] for t in tokenize(m)},
            }
            if len(cache[1]) >= 20_000:
                cache[1].clear()
            cache[1][row] = hit
        return hit

    def _evidence(self, q: ParsedQuery, row: int, terms: list[str], feats: list[str]) -> dict[str, list[str]]:
        cat = self.catalog
        ev: dict[str, list[str]] = {}
        meta_tokens = self._meta_tokens(row) if terms else {}
        for t in terms:
            if t in meta_tokens["moods"]:
                ev.setdefault("moods", []).append(t)
            elif t in meta_tokens["tags"]:
                ev.setdefault("tags", []).append(t)
            elif t in meta_tokens["title"]:
                ev.setdefault("title", []).append(t)
            elif cat.lyrics_refs[row]:
                ev.setdefault("lyrics", []).append(t)
        seeds = {s.name.lower() for s in q.seeds if s.label in ("Tag", "Genre")}
        tag_hits = [t for t in (*cat.tags[row], *cat.genres[row]) if t.lower() in seeds]
        if tag_hits:
            ev["tags"] = list(dict.fromkeys([*ev.get("tags", []), *tag_hits]))
        mood_hits = [m for m in cat.moods[row] if m in q.moods]
        if mood_hits:
            ev["moods"] = list(dict.fromkeys([*ev.get("moods", []), *mood_hits]))
        if feats:
            ev["features"] = feats
        words = self.bundle.emotion_words[row]
        if words and (q.mood_target is not None):
            ev["emotion_words"] = words[:6]
        return ev

    @staticmethod
    def _explain_lines(q: ParsedQuery, res: Result, notes: list[str]) -> list[str]:
        lines = []
        if res.rank == 1:
            lines.append("parsed: " + describe(q))
            lines += [f"note: {n}" for n in notes]
        for c in ("bm25", "dense", "graph", "emotion", "audio"):
            if c in res.scores:
                lines.append(f"{c}: rank {res.ranks.get(c, '-')}, score {res.scores[c]:.4g}")
        return lines


_GC_FROZEN = False


def _freeze_gc() -> None:
    """Collect once, then move every live object out of the cyclic collector's view (see ``warm_up``)."""
    import atexit
    import gc

    global _GC_FROZEN
    gc.collect()
    gc.freeze()
    if not _GC_FROZEN:
        _GC_FROZEN = True
        atexit.register(gc.unfreeze)


def describe(q: ParsedQuery) -> str:
    """One line summarizing a parsed request (for ``--explain``)."""
    parts = []
    if q.seeds:
        parts.append("seeds " + ", ".join(f"{s.label}:{s.name} ({s.role})" for s in q.seeds))
    if q.exclude:
        parts.append("exclude " + ", ".join(f"{s.label}:{s.name}" for s in q.exclude))
    if q.exclude_moods:
        parts.append("not " + "/".join(q.exclude_moods))
    if q.moods:
        parts.append("moods " + "/".join(q.moods))
    if q.mood_target:
        parts.append(f"valence {q.mood_target[0]:.2f} arousal {q.mood_target[1]:.2f}")
    if q.features:
        parts.append("features " + ", ".join(
            f"{f} {'' if lo is None else f'>={lo:g}'}{' ' if lo is not None and hi is not None else ''}"
            f"{'' if hi is None else f'<={hi:g}'}" for f, (lo, hi) in q.features.items()))
    if q.terms:
        parts.append("terms " + " ".join(q.terms))
    return "; ".join(parts) or "(nothing recognized)"


# ------------------------------------------------------------------ module-level API
_DEFAULT: dict[str, HybridRetriever] = {}
_DEFAULT_LOCK = threading.Lock()


def get_retriever(store: GraphStore | None = None, index_dir: Path | None = None) -> HybridRetriever:
    """A process-wide retriever for the configured store and index (built on first call)."""
    from musicgraph.config import get_settings
    from musicgraph.graph import open_store

    settings = get_settings()
    key = f"{id(store)}:{index_dir}:{settings.home}:{settings.store_name}:{settings.neo4j_uri}"
    with _DEFAULT_LOCK:
        r = _DEFAULT.get(key)
        if r is None or (store is None and r.store.version() != r.bundle.manifest.get("store_version")):
            r = HybridRetriever(store or open_store(), index_dir=index_dir)
            _DEFAULT[key] = r
        return r


def retrieve(
    query: str,
    k: int = 10,
    user: str | None = None,
    exclude_known: bool = True,
    filters: Mapping[str, Any] | None = None,
    use_bm25: bool = True,
    use_dense: bool = True,
    use_graph: bool = True,
    use_emotion: bool = True,
    use_audio: bool = True,
    explain: bool = False,
    *,
    store: GraphStore | None = None,
    index_dir: Path | None = None,
    fusion: str | None = None,
    use_trending: bool = False,
) -> list[Result]:
    """Free-text music retrieval over the configured store (``musicgraph.retrieve``).

    See :meth:`HybridRetriever.retrieve`; ``fusion`` picks ``rrf`` or ``linear`` for this call.
    Raises ``FileNotFoundError`` (with the command to run) when the indexes are not built.
    """
    r = get_retriever(store, index_dir)
    cfg = replace(r.config, method=fusion) if fusion else None
    return r.retrieve(query, k=k, user=user, exclude_known=exclude_known, filters=filters, use_bm25=use_bm25,
                      use_dense=use_dense, use_graph=use_graph, use_emotion=use_emotion, use_audio=use_audio,
                      explain=explain, config=cfg, use_trending=use_trending)


def parse_query(query: str, *, store: GraphStore | None = None, index_dir: Path | None = None) -> ParsedQuery:
    """The parsed form of ``query`` with the configured catalog (``--explain``)."""
    return get_retriever(store, index_dir).parse(query)

