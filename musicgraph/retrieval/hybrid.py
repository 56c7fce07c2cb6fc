"""The hybrid retriever: BM25, dense and graph operators fused, re-ranked by emotion and audio fit.

Pipeline for song answers (every component can be switched off for ablations)::

    Request --mask: constraints, exclusions, seeds, known items (assembly.prepare)
            --BM25 (terms)---------------------------\\
            --dense (MiniLM + FAISS)------------------+--> RRF or weighted linear fusion
            --graph (relation operators per seed,     /          |
              walks from mood nodes)                 /   emotion + audio-feature re-rank
                                                                 |
                                       per-artist cap (k-filled), MMR --> list[Result]

For artist, album and playlist answers the graph scores the items directly and the text components'
song scores are lifted to the items (their best song); fusion and the exact top-k are the same.

With no retrieval component left (all off, or nothing matched), songs are ranked by how well they
fit the requested mood and features, tie-broken by popularity, and every result says so in
``evidence["fallback"]``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.errors import RequestError
from musicgraph.graph.results import ExplanationPath, Result
from musicgraph.graph.schema import Label
from musicgraph.graph.store import GraphStore
from musicgraph.retrieval.assembly import Prepared, assemble, prepare, seed_scores
from musicgraph.retrieval.base import Retriever
from musicgraph.retrieval.emotion import EMOTION_FIELDS, MOOD_VA, calibrate
from musicgraph.retrieval.fusion import (
    FusionConfig,
    emotion_match,
    feature_match,
    mmr,
    rerank,
    rrf,
    weighted_linear,
)
from musicgraph.retrieval.index import IndexBundle, default_index_dir
from musicgraph.retrieval.request import Relation, Request
from musicgraph.retrieval.resources import GraphResources
from musicgraph.retrieval.text import tokenize

log = logging.getLogger(__name__)

__all__ = ["COMPONENTS", "MODEL_COMPONENTS", "OPTIONAL_COMPONENTS", "HybridRetriever", "Trace"]

MAX_K = 1000
#: Weight of graph-estimated audio features (``features_estimated``) relative to measured ones.
ESTIMATED_WEIGHT = 0.5
COMPONENTS: tuple[str, ...] = ("bm25", "dense", "graph", "emotion", "audio")
#: components that take part when their model is there (the GNN: trained embeddings attached or indexed)
MODEL_COMPONENTS: tuple[str, ...] = ("gnn",)
#: Components off unless asked for: ``trending`` (:mod:`musicgraph.retrieval.trending`, ``--trending``).
OPTIONAL_COMPONENTS: tuple[str, ...] = ("trending",)


@dataclass(slots=True)
class _Component:
    ranking: list[int]
    scores: dict[int, float]


@dataclass(slots=True)
class Trace:
    """What one search did: the request, its notes and the wall seconds of each stage.

    Stages: ``parse``, ``mask``, ``bm25``, ``graph``, ``dense_encode`` (the wait for the encoder; its
    own time is ``dense_encode_worker``), ``dense_search``, ``fusion``, ``results``; a stage that did
    not run is absent.
    """

    request: Request
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class _StageClock:
    __slots__ = ("stages", "_t")

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - self._t
        self._t = now


class HybridRetriever(Retriever):
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
        data_dir: where the emotion lexicons are read (default ``MUSICGRAPH_DATA_DIR``).
        parser: a request parser with ``parse(text) -> Request`` (default
            :class:`~musicgraph.retrieval.parser.RequestParser`).
        parallel_encode: encode the dense query on a worker thread while BM25 and the graph run.
        components: the components in use (default all of :data:`COMPONENTS` and the GNN; ``trending``
            only when asked for).
        resources: shared graph resources (default: built for ``store`` and the bundle).
        gnn: a :class:`~musicgraph.retrieval.gnn_retriever.GNNRetriever` whose artist scores join the
            fusion (weight ``config.weights["gnn"]``); ``"auto"``: the store's GNN index when
            ``musicgraph gnn embed`` built one (what ``musicgraph.retrieve`` uses); None (the default,
            so held-out evaluations never pick up a model trained on what they hide): no GNN.

    The retriever keeps no per-request state: :meth:`search_traced` returns each search's
    :class:`Trace` (timings for ``benchmarks/bench_retrieve.py``, notes) with its results.
    """

    name = "hybrid"

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
        components: Collection[str] = (*COMPONENTS, *MODEL_COMPONENTS),
        resources: GraphResources | None = None,
        gnn: Any = None,
    ):
        self.store = store
        self.bundle = bundle or IndexBundle.load(index_dir or default_index_dir())
        self.catalog = self.bundle.catalog
        self.config = config or FusionConfig()
        self.components = frozenset(components)
        self._encoder = encoder
        self.resources = resources or GraphResources(store, self.bundle, hidden_users=hidden_users,
                                                     hidden_moods=hidden_moods, vad=vad, data_dir=data_dir)
        self._parser = parser
        self._gnn = gnn
        self._lock = threading.Lock()
        self.parallel_encode = parallel_encode
        self._pool: ThreadPoolExecutor | None = None
        if self.bundle.manifest.get("store_version") not in (None, store.version()):
            log.warning("retrieval index in %s was built from store version %s, the store is now at %s: "
                        "run `musicgraph index build` to refresh it", self.bundle.directory,
                        self.bundle.manifest.get("store_version"), store.version())
        self._prepare_emotion_sources()

    # ------------------------------------------------------------ lazy parts
    @property
    def emotion(self) -> Any:
        """The emotion index of the shared resources."""
        return self.resources.emotion

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
        """The query encoder of the dense channel, loaded on first use."""
        if self._encoder is None:
            from musicgraph.retrieval.encoder import Encoder

            self._encoder = Encoder()
        return self._encoder

    @property
    def gnn(self) -> Any:
        """The attached GNN retriever (None when there is none; ``"auto"`` resolves on first use)."""
        with self._lock:
            if isinstance(self._gnn, str):
                self._gnn = None
                try:
                    from musicgraph.retrieval.gnn_retriever import GNNRetriever

                    self._gnn = GNNRetriever(self.resources)
                except (FileNotFoundError, ImportError, ValueError) as exc:
                    log.debug("hybrid retrieval without the GNN component: %s", exc)
            return self._gnn

    def _top_component(self, scores: np.ndarray, mask: np.ndarray, pool: int) -> _Component | None:
        """The ``pool`` best rows of ``mask`` with a positive score (ties: popularity, then catalog
        order), or None when there is none."""
        masked = np.where(mask, scores, 0.0)
        nz = np.flatnonzero(masked > 0)
        if len(nz) > pool:
            nz = nz[np.argpartition(-masked[nz], pool - 1)[:pool]]
        if not len(nz):
            return None
        top = nz[np.lexsort((self._tie_order[nz], -self._popularity[nz], -masked[nz]))]
        return _Component(top.tolist(), {int(r): float(masked[r]) for r in top})

    def _gnn_scores(self, prep: Prepared, kind: str) -> np.ndarray | None:
        """The GNN's scores of the kind's items for the request's entity seeds (None: no GNN or no seed vector)."""
        gnn = self.gnn
        if gnn is None:
            return None
        seeds = [(sn.node, sn.seed.weight) for sn in prep.seeds
                 if sn.relation not in (Relation.PERFORMED_BY, Relation.SAME_ALBUM, Relation.TAGGED,
                                        Relation.HAS_GENRE, Relation.HAS_MOOD)]
        if not seeds:
            return None
        artist = gnn.artist_scores(prep.request, seeds)
        if not artist.any():
            return None
        return self.resources.space.from_artists(kind, artist)

    @property
    def graph(self) -> Any:
        """The PPR engine (:class:`~musicgraph.retrieval.graph.GraphComponent`), built on first use."""
        return self.resources.walker

    @property
    def linker(self) -> Any:
        """The entity linker of the shared resources."""
        return self.resources.linker

    @property
    def parser(self) -> Any:
        """The free-text parser over these resources, built on first use."""
        if self._parser is None:
            from musicgraph.retrieval.parser import RequestParser

            self._parser = RequestParser.for_resources(self.resources)
        return self._parser

    def warm_up(self, dense: bool = True, freeze_gc: bool = True) -> None:
        """Load the projection, linker, operators and (optionally) the encoder ahead of queries.

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

        self.resources.warm_up()
        _ = self.parser
        space = self.resources.space
        for kind in ("song", "artist"):
            space.popularity(kind)
            space.item_artist(kind)
        space.song_prior()
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
    def parse(self, text: str) -> Request:
        """The request ``text`` describes (see :mod:`musicgraph.retrieval.parser`)."""
        return self.parser.parse(text)

    def get_search_results(self, request: Request) -> list[Result]:
        return self.search_traced(request)[0]

    def retrieve(
        self,
        query: str | Request | Mapping[str, Any],
        k: int | None = None,
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
        use_gnn: bool = True,
        use_trending: bool = False,
    ) -> list[Result]:
        """:meth:`search` with the library's keyword options (``musicgraph.retrieve``).

        Args:
            query: free text, a :class:`Request`, or its JSON form.
            k: number of results (default: the request's, 10 for free text).
            user: a user key (``hetrec:2``, ``me:alex``) whose listening personalizes the results.
            exclude_known: leave out the user's known items (the seeds are always left out).
            filters: extra hard filters over songs (:mod:`musicgraph.retrieval.filters`).
            use_bm25, use_dense, use_graph, use_emotion, use_audio, use_gnn: component switches (the GNN
                takes part only when one is attached, see the class).
            explain: add ``evidence["explain"]`` lines (the parsed request, component ranks).
            config: fusion settings for this call.
            use_trending: move songs on the current trend lists up (off by default; ``musicgraph trends fetch``).

        Returns:
            The top results, best first; each result's ``evidence`` holds its component scores and ranks.

        Raises:
            RequestError: an empty or invalid request.
            UnknownEntityError: an unknown user or entity.
        """
        from musicgraph.graph.resolve import user_key
        from musicgraph.retrieval.request import Seed, parse_request

        req = self.parse(query) if isinstance(query, str) else parse_request(query)
        changes: dict[str, Any] = {}
        if k is not None:
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise RequestError(f"k must be a positive integer (1..{MAX_K}), got {k!r}", field="k")
            changes["k"] = min(k, MAX_K)
        if user is not None:
            changes["seeds"] = [*req.seeds, Seed(label="User", name=user, key=user_key(user), relation="listened_by")]
        if not exclude_known:
            changes["constraints"] = req.constraints.model_copy(update={"include_known": True})
        if changes:
            req = req.with_(**changes)
        comps = [c for c, on in (("bm25", use_bm25), ("dense", use_dense), ("graph", use_graph),
                                 ("emotion", use_emotion), ("audio", use_audio), ("gnn", use_gnn),
                                 ("trending", use_trending)) if on]
        results, trace = self.search_traced(req, components=comps, filters=filters, explain=explain, config=config)
        if k is not None and k > MAX_K:
            trace.notes.insert(0, f"k={k} capped at {MAX_K}")
        return results

    def search_traced(
        self,
        request: Request | str,
        *,
        components: Collection[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        explain: bool = False,
        config: FusionConfig | None = None,
    ) -> tuple[list[Result], Trace]:
        """:meth:`search` with the search's :class:`Trace`, and per-call options.

        Args:
            request: the request, or free text.
            components: the components to use for this call (default: the retriever's).
            filters: extra hard filters over songs (:mod:`musicgraph.retrieval.filters`: ``keys``,
                ``artists``, ``duplicates``, ``not_known_by``, ...), for song answers.
            explain: add ``evidence["explain"]`` lines per result (the parsed request, component ranks).
            config: fusion settings for this call (default: the retriever's).

        Returns:
            ``(results, trace)``: the results as :meth:`search` returns them, and the search's
            :class:`Trace` (the parsed request, per-stage timings, notes such as a fallback ranking).

        Raises:
            RequestError: an empty request, or song ``filters`` on a request for other kinds.
            UnknownEntityError: a seed, exclusion or filtered user that is not in the graph.
        """
        clock = _StageClock()
        req = self.parse(request) if isinstance(request, str) else request
        clock.lap("parse")
        comps = self.components if components is None else frozenset(components)
        cfg = config or self.config
        trace = Trace(request=req)
        if req.kind == "song":
            results = self._songs(req, comps, filters, explain, cfg, clock, trace)
        else:
            if filters:
                raise RequestError(f"song filters ({', '.join(filters)}) do not apply to {req.kind} answers; "
                                   "use the request's constraints", field="filters")
            results = self._items(req, comps, explain, cfg, clock, trace)
        trace.timings = clock.stages
        if trace.notes:
            log.info("search(%r): %s", (req.text or req.describe())[:80], "; ".join(trace.notes))
        return results, trace

    # -------------------------------------------------------------- songs
    def _songs(self, req: Request, comps: frozenset[str], filters: Mapping[str, Any] | None, explain: bool,
               cfg: FusionConfig, clock: _StageClock, trace: Trace) -> list[Result]:
        use_bm25, use_dense, use_graph = "bm25" in comps, "dense" in comps, "graph" in comps
        use_emotion, use_audio = "emotion" in comps, "audio" in comps
        notes = trace.notes
        alive_n = int(self.catalog.alive.sum())
        k = req.k
        if k > MAX_K or k > alive_n:
            notes.append(f"k={k} capped at {min(MAX_K, alive_n)}")
            k = min(MAX_K, alive_n)
        dense_text = (req.dense_text or req.text or "") if use_dense and self.bundle.dense is not None else ""
        dense_job = self._start_encoding(dense_text) if dense_text.strip() else None
        if dense_job is not None and not self.parallel_encode:
            clock.lap("dense_encode")
        res = self.resources
        prep = prepare(res, req)
        notes += prep.notes
        mask = prep.mask
        if filters:
            mask = mask & self._filter_mask(filters)
        if not mask.any():
            trace.notes.append("the constraints, filters and exclusions leave no song in the catalog")
            clock.lap("mask")
            return []
        clock.lap("mask")
        t = req.targets
        mood_target = (t.valence, t.arousal) if t.valence is not None and t.arousal is not None else None
        feature_targets = {**t.features, **req.constraints.features}

        found: dict[str, _Component] = {}
        pool = max(cfg.pool, k * 3)
        bm25_terms: dict[int, list[str]] = {}
        if use_bm25 and self.bundle.sparse is not None and req.terms:
            hits = self.bundle.sparse.search(req.terms, k=pool, mask=mask)
            if hits:
                found["bm25"] = _Component([h.row for h in hits], {h.row: h.score for h in hits})
                bm25_terms = {h.row: h.terms for h in hits}
        clock.lap("bm25")
        graph_comp = None
        graph_vec = None
        walk_paths = False
        has_graph_signal = bool(prep.seeds or req.targets.moods or req.constraints.tags or req.constraints.genres
                                or req.constraints.moods)
        if use_graph and has_graph_signal:
            graph_vec, walk_paths = self._graph_song_scores(prep)
            graph_comp = self._top_component(graph_vec, mask, pool)
            clock.lap("graph")
        if dense_job is not None:
            qvec, enc_seconds = dense_job.result()
            clock.lap("dense_encode")
            clock.stages["dense_encode_worker"] = enc_seconds
            scores, rows = self.bundle.dense.search(qvec[None, :], k=pool, mask=mask)
            ranking = [int(r) for r in rows[0] if r >= 0]
            if ranking:
                smap = dict(zip(rows[0].tolist(), scores[0].tolist(), strict=True))
                found["dense"] = _Component(ranking, {r: float(smap[r]) for r in ranking})
            clock.lap("dense_search")
        if graph_comp is not None:
            found["graph"] = graph_comp
        if "gnn" in comps and prep.seeds:
            gvec = self._gnn_scores(prep, "song")
            if gvec is not None:
                gnn_comp = self._top_component(gvec, mask, pool)
                if gnn_comp is not None:
                    found["gnn"] = gnn_comp
                clock.lap("gnn")

        if "bm25" not in found and not prep.seeds and mood_target is None and not feature_targets \
                and req.constraints.is_empty() and not filters:
            # nothing in the request is known to the catalog: dense neighbours of gibberish are noise
            unknown = [w for w in req.terms if self.bundle.sparse is None or w not in self.bundle.sparse.vocabulary]
            found.pop("dense", None)
            notes.append("nothing in the request matched the catalog"
                         + (f" (unknown words: {', '.join(unknown[:5])})" if unknown else ""))

        # fusion
        fallback = None
        if found:
            weights = dict(cfg.weights)
            if prep.seeds and not req.terms and mood_target is None and not feature_targets:
                weights["dense"] = weights.get("dense", 1.0) * cfg.entity_only_dense
            fused = self._fuse(found, weights, cfg)
            cand = np.fromiter(fused.keys(), dtype=np.int64)
        else:
            cand = np.flatnonzero(mask)
            fused = None
            fallback = self._fallback_reason(mood_target, feature_targets, use_bm25, use_dense, use_graph)
            notes.append(fallback)

        # rerank by emotion and audio features
        emo = aud = None
        feat_ev: list[list[str]] = [[] for _ in range(len(cand))]
        if use_emotion and (mood_target is not None or t.avoid_moods):
            sources = [(v[cand], a[cand], w) for v, a, w in self._emotion_sources]
            if not use_audio or not feature_targets:
                for v, a, w in self._audio_va_sources:
                    sources.append((v[cand], a[cand], w))
            excl = [MOOD_VA[m] for m in t.avoid_moods if m in MOOD_VA]
            emo = emotion_match(mood_target, sources, excl)
        if use_audio and feature_targets:
            aud, feat_ev = feature_match(self.catalog.features[cand], feature_targets)
            est = self.catalog.estimated_flags()[cand]
            if est.any():  # graph estimates count, with less weight than measured features
                aud = np.where(est, 0.5 + ESTIMATED_WEIGHT * (aud - 0.5), aud).astype(np.float32)
                feat_ev = [[f + " (estimated)" for f in ev] if e else ev for ev, e in zip(feat_ev, est, strict=True)]
        if fused is None:
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
        if "trending" in comps:  # a rerank among the candidates: trending songs move up, nothing unrelated comes in
            from musicgraph.retrieval.trending import TRENDING_WEIGHT

            trend = self.trending_values()
            final = {r: v * (1.0 + TRENDING_WEIGHT * float(trend[r])) for r, v in final.items()}
        # exact order: score, then popularity, then the fixed tie order; per-artist cap k-filled; MMR
        rows_f = np.fromiter(final.keys(), dtype=np.int64, count=len(final))
        vals_f = np.fromiter(final.values(), dtype=np.float64, count=len(final))
        order = rows_f[np.lexsort((self._tie_order[rows_f], -self._popularity[rows_f], -vals_f))].tolist()
        cap = req.diversity.max_per_artist if req.diversity.max_per_artist is not None else cfg.per_artist
        kept, spill = _capped(order, self.catalog.artist_keys, cap, limit=max(k * 5, k))
        lam = req.diversity.mmr if req.diversity.mmr < 1.0 else cfg.mmr_lambda
        vectors = self.bundle.dense.vectors if self.bundle.dense is not None else None
        chosen = mmr(kept, final, vectors, k, lam)
        chosen += spill[: k - len(chosen)]  # the cap never leaves the list short: capped rows fill the tail
        clock.lap("fusion")

        from musicgraph.retrieval.space import Selected

        selected = [Selected(int(r), float(final[r])) for r in chosen]
        comp_vecs = self._component_vectors(found, cand, emo, aud, fused)
        pos = {int(r): i for i, r in enumerate(cand.tolist())}
        evidence = {}
        extra_paths: dict[int, list[ExplanationPath]] = {}
        for row in chosen:
            ev = self._evidence(req, row, bm25_terms.get(row, []), feat_ev[pos[row]] if aud is not None else [])
            if fallback:
                ev["fallback"] = [fallback]
            if trend is not None and trend[row] > 0:
                ev["trending"] = [self._trending.value(self.catalog.keys[row], self.catalog.artists[row])[1]]
            evidence[row] = ev
            if walk_paths and graph_vec is not None and graph_vec[row] > 0:
                extra_paths[row] = self._mood_paths(req, row)
        results = assemble(res, prep, selected, comp_vecs, paths="graph" in found or bool(prep.seeds),
                           extra_paths=extra_paths, evidence=evidence)
        if trend is not None:
            t_of = {self.catalog.keys[row]: float(trend[row]) for row in chosen if trend[row] > 0}
            for r in results:
                if r.id in t_of:
                    r.scores["trending"] = t_of[r.id]
        if explain:
            for r in results:
                r.evidence["explain"] = self._explain_lines(req, r, notes)
        clock.lap("results")
        return results

    def _graph_song_scores(self, prep: Prepared) -> tuple[np.ndarray, bool]:
        """Graph scores of catalog rows: relation operators per seed and, with moods requested, the
        walk from the mood nodes combined conjunctively (geometric mean) with them.

        Returns:
            (scores per row, whether the scores came from mood walks, which explain by walk paths)
        """
        res, req = self.resources, prep.request
        moods = [m for m in req.targets.moods if res.projection.index(Label.MOOD, m) is not None]
        mood_vec = None
        if moods:
            seeds = {res.projection.index(Label.MOOD, m): 0.8 for m in moods}
            mood_vec = np.asarray(res.walker.score(seeds, conjunctive=False).scores, dtype=np.float64)
            top = float(mood_vec.max(initial=0.0))
            mood_vec = mood_vec / top if top > 0 else mood_vec
        entity = [sn for sn in prep.seeds]
        if not entity and not (req.constraints.tags or req.constraints.genres) and mood_vec is not None:
            return mood_vec, True
        scores, _ = seed_scores(res, prep)
        if mood_vec is not None:
            scores = np.sqrt(np.maximum(scores, 0.0) * mood_vec)
        return scores, mood_vec is not None

    def _mood_paths(self, req: Request, row: int) -> list[ExplanationPath]:
        res = self.resources
        node = int(res.space.row_node[row])
        if node < 0:
            return []
        seeds = [res.projection.index(Label.MOOD, m) for m in req.targets.moods]
        seeds = [s for s in seeds if s is not None]
        return res.walker.scorer.paths(seeds, node, max_hops=3, top=1, prefer_short=True) if seeds else []

    @staticmethod
    def _fuse(found: Mapping[str, _Component], weights: Mapping[str, float], cfg: FusionConfig) -> dict[int, float]:
        if cfg.method == "rrf":
            return rrf({c: comp.ranking for c, comp in found.items()}, k=cfg.rrf_k, weights=weights)
        if cfg.method == "linear":
            return weighted_linear({c: comp.scores for c, comp in found.items()}, weights)
        raise RequestError(f"unknown fusion method {cfg.method!r}; expected 'rrf' or 'linear'", field="fusion")

    def _component_vectors(self, found: Mapping[str, _Component], cand: np.ndarray, emo: np.ndarray | None,
                           aud: np.ndarray | None, fused: Mapping[int, float]) -> dict[str, np.ndarray]:
        """Per-component score vectors over catalog rows (for the results' ``scores`` and ``ranks``)."""
        n = len(self.catalog)
        out: dict[str, np.ndarray] = {}
        for name, comp in found.items():
            v = np.zeros(n)
            v[np.fromiter(comp.scores.keys(), dtype=np.int64, count=len(comp.scores))] = np.fromiter(
                comp.scores.values(), dtype=np.float64, count=len(comp.scores))
            out[name] = v
        for name, vals in (("emotion", emo), ("audio", aud)):
            if vals is not None:
                v = np.zeros(n)
                v[cand] = vals
                out[name] = v
        v = np.zeros(n)
        v[np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))] = np.fromiter(
            fused.values(), dtype=np.float64, count=len(fused))
        out["fused"] = v
        return out

    # -------------------------------------------------------------- other kinds
    def _items(self, req: Request, comps: frozenset[str], explain: bool, cfg: FusionConfig, clock: _StageClock,
               trace: Trace) -> list[Result]:
        res = self.resources
        space = res.space
        kind = req.kind
        prep = prepare(res, req)
        trace.notes += prep.notes
        clock.lap("mask")
        if not prep.mask.any():
            return []
        found: dict[str, np.ndarray] = {}
        if "graph" in comps:
            g, _ = seed_scores(res, prep)
            if (g[prep.mask] > 0).any():
                found["graph"] = g
            clock.lap("graph")
        if "gnn" in comps and prep.seeds:
            gv = self._gnn_scores(prep, kind)
            if gv is not None and (gv[prep.mask] > 0).any():
                found["gnn"] = gv
            clock.lap("gnn")
        if prep.seeds and not req.terms:
            # a request made only of entities, relations and constraints: text search has nothing to match
            comps = comps - {"bm25", "dense"}
        song_mask = self.catalog.alive
        pool = max(cfg.pool, req.k * 20)
        if "bm25" in comps and self.bundle.sparse is not None and req.terms:
            hits = self.bundle.sparse.search(req.terms, k=pool, mask=song_mask)
            if hits:
                v = np.zeros(len(self.catalog))
                for h in hits:
                    v[h.row] = max(float(h.score), 1e-9)
                found["bm25"] = space.from_songs(kind, v)
            clock.lap("bm25")
        dense_text = req.dense_text or req.text or ""
        if "dense" in comps and self.bundle.dense is not None and dense_text.strip():
            qvec, secs = self._start_encoding(dense_text).result()
            clock.lap("dense_encode")
            scores, rows = self.bundle.dense.search(qvec[None, :], k=pool, mask=song_mask)
            v = np.zeros(len(self.catalog))
            ok = rows[0] >= 0
            v[rows[0][ok]] = np.maximum(scores[0][ok] + 1.0, 1e-9)  # cosine in [-1, 1] -> positive
            found["dense"] = space.from_songs(kind, v)
            clock.lap("dense_search")
        if not found:
            trace.notes.append("no retrieval component found a match")
            return []
        rankings = {}
        for name, vec in found.items():
            cand = np.flatnonzero((vec > 0) & prep.mask)
            top = cand[np.lexsort((cand, -vec[cand]))][:pool]
            rankings[name] = top.tolist()
        weights = dict(cfg.weights)
        if prep.seeds and ("graph" in found or "gnn" in found):
            # text matches of names say little about the relation asked for
            weights["dense"] = weights.get("dense", 1.0) * cfg.entity_only_dense
            weights["bm25"] = weights.get("bm25", 1.0) * cfg.entity_only_dense
        if cfg.method == "linear":
            fused_d = weighted_linear({n: {int(i): float(v[i]) for i in r} for n, r in rankings.items()
                                       for v in [found[n]]}, weights)
        else:
            fused_d = rrf(rankings, k=cfg.rrf_k, weights=weights)
        fused = np.zeros(space.n(kind))
        if fused_d:
            idx = np.fromiter(fused_d.keys(), dtype=np.int64, count=len(fused_d))
            fused[idx] = np.fromiter(fused_d.values(), dtype=np.float64, count=len(fused_d))
        cap = req.diversity.max_per_artist
        if cap is None and kind == "album":
            cap = cfg.per_artist
        selected = space.select(kind, fused, prep.mask, req.k, cap)
        clock.lap("fusion")
        results = assemble(res, prep, selected, {**found, "fused": fused})
        if explain:
            for r in results:
                r.evidence["explain"] = self._explain_lines(req, r, trace.notes)
        clock.lap("results")
        return results

    # ------------------------------------------------------------- helpers
    def _start_encoding(self, text: str) -> Any:
        """Encode the dense query text, on the worker thread when ``parallel_encode`` (else now).

        The returned object's ``result()`` is ``(vector, seconds)``. Torch and onnxruntime release the
        GIL in their kernels, so the encoder (one thread) overlaps the BM25 search and the graph walk.
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

    def _filter_mask(self, filters: Mapping[str, Any]) -> np.ndarray:
        from musicgraph.retrieval.filters import filter_mask

        return filter_mask(self.catalog, filters, known_rows=self.known_rows_of_user)

    def known_rows_of_user(self, user: str) -> set[int]:
        """Catalog rows of songs a user already knows (their artists' songs and the songs they played)."""
        from musicgraph.graph.resolve import user_key

        res = self.resources
        node = res.projection.index(Label.USER, user_key(user))
        if node is None:
            from musicgraph.errors import UnknownEntityError

            raise UnknownEntityError("user", user)
        known = res.ops.user_known(node)
        return set(np.flatnonzero(res.space.exclusion_mask("song", known)).tolist()) if known else set()

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

    @staticmethod
    def _fallback_reason(mood_target: Any, features: Mapping[str, Any], use_bm25: bool, use_dense: bool,
                         use_graph: bool) -> str:
        if not (use_bm25 or use_dense or use_graph):
            what = "all retrieval components are switched off"
        else:
            what = "no retrieval component found a match"
        fit = [x for x, on in (("mood", mood_target is not None), ("features", bool(features))) if on]
        return f"{what}: songs ranked by fit to the requested {' and '.join(fit) or 'request'}, then popularity"

    def _meta_tokens(self, row: int) -> dict[str, set[str]]:
        """Title/artist/album, tag/genre and mood tokens of a catalog row (a bounded cache per catalog)."""
        cat = self.catalog
        with self._lock:
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
            with self._lock:
                if len(cache[1]) >= 20_000:
                    cache[1].clear()
                cache[1][row] = hit
        return hit

    def _evidence(self, req: Request, row: int, terms: list[str], feats: list[str]) -> dict[str, list[str]]:
        cat = self.catalog
        ev: dict[str, list[str]] = {}
        meta_tokens = self._meta_tokens(row) if terms else {}
        for term in terms:
            if term in meta_tokens["moods"]:
                ev.setdefault("moods", []).append(term)
            elif term in meta_tokens["tags"]:
                ev.setdefault("tags", []).append(term)
            elif term in meta_tokens["title"]:
                ev.setdefault("title", []).append(term)
            elif cat.lyrics_refs[row]:
                ev.setdefault("lyrics", []).append(term)
        wanted = {s.name.lower() for s in req.seeds if s.label in ("Tag", "Genre")}
        wanted |= {x.lower() for x in (*req.constraints.tags, *req.constraints.genres)}
        tag_hits = [x for x in (*cat.tags[row], *cat.genres[row]) if x.lower() in wanted]
        if tag_hits:
            ev["tags"] = list(dict.fromkeys([*ev.get("tags", []), *tag_hits]))
        moods = set(req.targets.moods) | set(req.constraints.moods)
        mood_hits = [m for m in cat.moods[row] if m in moods]
        if mood_hits:
            ev["moods"] = list(dict.fromkeys([*ev.get("moods", []), *mood_hits]))
        if feats:
            ev["features"] = feats
        words = self.bundle.emotion_words[row]
        if words and req.targets.valence is not None:
            ev["emotion_words"] = words[:6]
        return ev

    @staticmethod
    def _explain_lines(req: Request, res: Result, notes: list[str]) -> list[str]:
        lines = []
        if res.rank == 1:
            lines.append("parsed: " + req.describe())
            lines += [f"note: {n}" for n in notes]
        for c in ("bm25", "dense", "graph", "gnn", "emotion", "audio"):
            if c in res.scores:
                lines.append(f"{c}: rank {res.ranks.get(c, '-')}, score {res.scores[c]:.4g}")
        return lines


def _capped(order: list[int], artist_of: list[str], cap: int, limit: int) -> tuple[list[int], list[int]]:
    """``order`` split into the rows within ``cap`` per artist (at most ``limit``) and the rows the cap
    held back, both in order (``cap`` 0: no cap)."""
    if cap <= 0:
        return order[:limit], []
    seen: dict[str, int] = {}
    kept: list[int] = []
    spill: list[int] = []
    for row in order:
        a = artist_of[row]
        if seen.get(a, 0) < cap:
            kept.append(row)
            seen[a] = seen.get(a, 0) + 1
            if len(kept) >= limit:
                break
        elif len(spill) < limit:
            spill.append(row)
    return kept, spill


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
