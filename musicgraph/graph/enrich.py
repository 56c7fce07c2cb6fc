"""Enrich the nodes already in a store from MusicBrainz, Genius or Last.fm.

Works on either backend, only through the :class:`~musicgraph.graph.store.GraphStore` interface.

What each source adds
---------------------
* ``musicbrainz`` — Artist (looked up directly when it already has an ``mbid``): ``mbid``, ``mb_type``, ``country``, ``begin_year``/``end_year``,
  ``(Artist)-[HAS_GENRE]->(Genre)``, ``(Artist)-[TAGGED]->(Tag)`` (votes ≥ 1), and
  ``(member)-[MEMBER_OF {relation}]->(group)`` for "member of band", "collaboration" and "subgroup"
  relations (member artists are created with their ``mbid`` unless ``create_artists=False``).
  Song: ``mbid``, ``isrcs``, ``mb_first_release_date``, ``year`` and ``album`` when the song has none,
  ``HAS_GENRE`` and ``TAGGED`` from the recording.
* ``genius`` — Song: lyrics into the store's text table (ref ``sha1:<hex>``), ``lyrics_ref`` (only
  for songs without lyrics), ``genius_id``, ``genius_url``.
* ``lastfm`` — Artist: ``(Artist)-[SIMILAR_TO {weight = match}]->(Artist)`` to artists already in
  the store (or new ones with ``create_artists=True``), ``TAGGED`` from ``artist.getTopTags``;
  Song: ``TAGGED`` from ``track.getTopTags``. Tags with a Last.fm weight under 10 are dropped.

Provenance
----------
Every node and relationship written carries ``sources`` (a list, unioned with what ingest wrote),
``<source>_fetched_at`` (ISO-8601 UTC) and ``<source>_match`` (the match confidence in [0, 1] of the
entity resolution that produced the fact). Properties are namespaced by source so that several
sources never overwrite each other's provenance. A relationship that already existed keeps its
``weight``; only new ones get the source's weight.

Checkpoint and idempotence
--------------------------
Each finished item (a node) is recorded with ``store.set_meta("enrich:<source>:<Label>:<key>",
{"status", "at"})`` after its writes. A rerun skips recorded items (``force=True`` redoes them), so a
killed run continues where it stopped; redoing an item writes the same rows again (upserts), so a
kill between the writes and the checkpoint loses nothing. Transient failures (offline cache misses,
malformed answers) are not recorded and are retried by the next run; a service that is down, a
missing or rejected key, or a persistent 429 stops the run with :class:`EnrichAborted` — everything
already written stays.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from musicgraph.errors import MusicgraphError
from musicgraph.graph.resolve import artist_key, normalize_tag
from musicgraph.graph.schema import Label, Rel
from musicgraph.graph.store import GraphStore, Node
from musicgraph.loaders.http_cache import (
    ApiError,
    ApiUnavailableError,
    MissingCredentialError,
    NotFoundError,
    OfflineCacheMiss,
    RateLimitedError,
)
from musicgraph.redact import redact, redact_obj

log = logging.getLogger(__name__)

Source = Literal["musicbrainz", "genius", "lastfm"]
SOURCES: tuple[str, ...] = ("musicbrainz", "genius", "lastfm")
#: Which node labels each source enriches, in order.
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "musicbrainz": (Label.ARTIST, Label.SONG),
    "genius": (Label.SONG,),
    "lastfm": (Label.ARTIST, Label.SONG),
}
#: Whether a source creates Artist nodes it finds (members; similar artists) by default.
DEFAULT_CREATE_ARTISTS: dict[str, bool] = {"musicbrainz": True, "genius": False, "lastfm": False}
META_PREFIX = "enrich"
LASTFM_MIN_TAG_WEIGHT = 10
MAX_TAGS = 15
MAX_SIMILAR = 50


class EnrichError(MusicgraphError, RuntimeError):
    """Bad enrichment input (unknown source, artist not in the store)."""


class EnrichAborted(RuntimeError):
    """The run stopped early (service down, missing key...); ``report`` says what was done."""

    def __init__(self, message: str, report: EnrichReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(slots=True)
class EnrichReport:
    """What one enrichment run did."""

    source: str
    selected: int = 0
    processed: int = 0
    enriched: int = 0
    no_match: int = 0
    not_found: int = 0
    already_done: int = 0
    cache_misses: int = 0
    errors: int = 0
    requests: int = 0
    cache_hits: int = 0
    nodes_written: int = 0
    edges_written: int = 0
    texts_written: int = 0
    seconds: float = 0.0
    aborted: str | None = None
    error_samples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Writes:
    """Everything one item writes, applied together after all its requests succeeded."""

    nodes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def node(self, label: str, key: str, props: Mapping[str, Any]) -> None:
        bucket = self.nodes.setdefault(label, {})
        bucket.setdefault(key, {}).update({k: v for k, v in props.items() if v is not None})

    def edge(self, rel: str, src_label: str, src: str, dst_label: str, dst: str, props: Mapping[str, Any]) -> None:
        bucket = self.edges.setdefault((rel, src_label, dst_label), {})
        bucket.setdefault((src, dst), {}).update({k: v for k, v in props.items() if v is not None})


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _artist_title(song: Node) -> tuple[str, str]:
    """The artist and title a song node is looked up by in the APIs."""
    return str(song.props.get("artist") or ""), str(song.props.get("title") or song.name)


def text_ref(text: str) -> str:
    """Content reference of a text: ``sha1:<hex>`` (the same scheme as ingest)."""
    return "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()


def checkpoint_key(source: str, label: str, key: str) -> str:
    return f"{META_PREFIX}:{source}:{label}:{key}"


class Enricher:
    """Runs one source over the store's nodes; see the module docstring.

    Args:
        store: the graph store (either backend).
        source: ``musicbrainz``, ``genius`` or ``lastfm``.
        client: the API client (:class:`~musicgraph.loaders.musicbrainz.MusicBrainzClient`,
            :class:`~musicgraph.loaders.genius.GeniusClient` or :class:`~musicgraph.loaders.lastfm.LastFmClient`).
        create_artists: create Artist nodes found by the source (default per source).
        force: redo items already checkpointed.
        now: timestamp function (tests pin it).
    """

    def __init__(
        self,
        store: GraphStore,
        source: str,
        client: Any,
        *,
        create_artists: bool | None = None,
        force: bool = False,
        now: Callable[[], str] = _now_iso,
    ) -> None:
        if source not in SOURCES:
            raise EnrichError(f"unknown enrichment source {source!r}; expected one of {', '.join(SOURCES)}")
        self.store = store
        self.source = source
        self.client = client
        self.create_artists = DEFAULT_CREATE_ARTISTS[source] if create_artists is None else create_artists
        self.force = force
        self.now = now

    # ------------------------------------------------------------ selection
    def select(
        self, *, artist: str | None = None, targets: Sequence[str] | None = None
    ) -> list[Node]:
        """Nodes to enrich, in order: artists (by key) then songs; only ``artist`` and its songs if given."""
        targets = tuple(targets or DEFAULT_TARGETS[self.source])
        for t in targets:
            if t not in DEFAULT_TARGETS[self.source]:
                raise EnrichError(f"{self.source} does not enrich {t} nodes (it enriches "
                                  f"{', '.join(DEFAULT_TARGETS[self.source])})")
        if artist is not None:
            key = artist_key(artist)
            node = self.store.get_node(Label.ARTIST, key)
            if node is None:
                raise EnrichError(f"artist {artist!r} (key {key!r}) is not in the store; run `musicgraph ingest` "
                                  "first or check the spelling")
            out: list[Node] = [node] if Label.ARTIST in targets else []
            if Label.SONG in targets:
                songs = [n for e, n in self.store.neighbors(Label.ARTIST, key, Rel.PERFORMED_BY, "in")
                         if n.label == Label.SONG and e.props.get("role", "main") == "main"]
                out += sorted(songs, key=lambda n: n.key)
            return out
        nodes: list[Node] = []
        for label in targets:
            nodes.extend(self.store.iter_nodes(label))
        return nodes

    def is_done(self, node: Node) -> bool:
        return self.store.get_meta(checkpoint_key(self.source, node.label, node.key)) is not None

    # ----------------------------------------------------------------- run
    def run(
        self,
        *,
        limit: int | None = None,
        artist: str | None = None,
        targets: Sequence[str] | None = None,
        progress: bool = False,
    ) -> EnrichReport:
        """Enrich up to ``limit`` not-yet-done nodes; returns the report (also saved in the store's meta)."""
        report = EnrichReport(source=self.source)
        started = time.monotonic()
        http = self.client.http
        sent0 = http.requests_sent
        hits0 = http.cache.hits if http.cache is not None else 0
        todo: list[Node] = []
        for node in self.select(artist=artist, targets=targets):
            if not self.force and self.is_done(node):
                report.already_done += 1
                continue
            todo.append(node)
            if limit is not None and len(todo) >= limit:
                break
        report.selected = len(todo)
        log.info("%s: %d node(s) to enrich, %d already done", self.source, len(todo), report.already_done)
        bar = _Progress(self.source, len(todo), self.client.limiter.describe(), enabled=progress)
        try:
            with bar:
                for node in todo:
                    self._one(node, report)
                    report.requests = http.requests_sent - sent0
                    report.cache_hits = (http.cache.hits if http.cache is not None else 0) - hits0
                    bar.advance(report)
        finally:
            report.requests = http.requests_sent - sent0
            report.seconds = round(time.monotonic() - started, 3)
            try:
                self.store.set_meta(f"{META_PREFIX}:{self.source}:last_run",
                                    json.dumps(redact_obj({**report.to_dict(), "at": self.now()})))
            except Exception as exc:  # noqa: BLE001 - never hide the run's own error
                log.warning("could not save the enrichment report: %s", exc)
        if report.aborted:
            raise EnrichAborted(report.aborted, report)
        return report

    def _one(self, node: Node, report: EnrichReport) -> None:
        report.processed += 1
        try:
            writes, status = self._fetch(node)
        except NotFoundError as exc:
            log.info("%s: %s: not found (%s)", self.source, node.ref, exc)
            report.not_found += 1
            self._checkpoint(node, "not_found")
            return
        except OfflineCacheMiss:
            report.cache_misses += 1
            return
        except (ApiUnavailableError, RateLimitedError, MissingCredentialError) as exc:
            report.errors += 1
            report.aborted = redact(f"stopped at {node.ref}: {exc}")
            raise _Stop from exc
        except ApiError as exc:
            report.errors += 1
            if len(report.error_samples) < 10:
                report.error_samples.append(redact(f"{node.ref}: {exc}"))
            log.warning("%s: %s: %s (will be retried by the next run)", self.source, node.ref, exc)
            return
        self._apply(writes, report)
        if status == "enriched":
            report.enriched += 1
        else:
            report.no_match += 1
        self._checkpoint(node, status)

    def _checkpoint(self, node: Node, status: str) -> None:
        self.store.set_meta(checkpoint_key(self.source, node.label, node.key),
                            json.dumps({"status": status, "at": self.now()}))

    # ------------------------------------------------------------- writing
    def _apply(self, writes: _Writes, report: EnrichReport) -> None:
        if writes.texts:
            self.store.put_texts(writes.texts)
            report.texts_written += len(writes.texts)
        for label, rows in writes.nodes.items():
            report.nodes_written += self.store.upsert_nodes(label, list(rows.items()))
        for (rel, src_label, dst_label), rows in writes.edges.items():
            report.edges_written += self.store.upsert_edges(
                rel, src_label, dst_label, [(s, d, p) for (s, d), p in rows.items()]
            )

    def _prov(self, match: float) -> dict[str, Any]:
        return {"sources": [self.source], f"{self.source}_fetched_at": self.now(),
                f"{self.source}_match": round(float(match), 4)}

    def _existing_out(self, label: str, key: str, rel: str) -> dict[str, dict[str, Any]]:
        return {n.key: e.props for e, n in self.store.neighbors(label, key, rel, "out")}

    def _tag_edges(
        self, w: _Writes, label: str, key: str, rel: str, dst_label: str,
        items: Sequence[tuple[str, float]], match: float,
    ) -> None:
        """Edges to Tag/Genre nodes (created as needed); ``items`` = (name, weight)."""
        existing = self._existing_out(label, key, rel)
        for name, weight in items[:MAX_TAGS]:
            t = normalize_tag(name)
            if not t:
                continue
            w.node(dst_label, t, {"name": t, "sources": [self.source]})
            props = self._prov(match)
            props[f"{self.source}_weight"] = float(weight)
            if t not in existing:
                props["weight"] = float(weight)
            w.edge(rel, label, key, dst_label, t, props)

    def _artist_ref(self, w: _Writes, name: str, mbid: str | None) -> str | None:
        """Key of an Artist node for ``name`` (existing, or created if allowed), else None."""
        key = artist_key(name)
        if not key:
            return None
        existing = self.store.get_node(Label.ARTIST, key)
        if existing is not None:
            if mbid and existing.props.get("mbid") and existing.props["mbid"] != mbid:
                log.debug("%s: %r is a different artist (mbid differs); not linked", self.source, name)
                return None
            return key
        if not self.create_artists:
            return None
        w.node(Label.ARTIST, key, {"name": name, "aliases": [name], "mbid": mbid, **self._prov(1.0)})
        return key

    # ------------------------------------------------------------ per source
    def _fetch(self, node: Node) -> tuple[_Writes, str]:
        handler = {
            ("musicbrainz", Label.ARTIST): self._mb_artist,
            ("musicbrainz", Label.SONG): self._mb_song,
            ("genius", Label.SONG): self._genius_song,
            ("lastfm", Label.ARTIST): self._lastfm_artist,
            ("lastfm", Label.SONG): self._lastfm_song,
        }[(self.source, node.label)]
        return handler(node)

    def _mb_artist(self, node: Node) -> tuple[_Writes, str]:
        w = _Writes()
        known = node.props.get("mbid")
        if known:  # created from a MusicBrainz relation, or resolved before: look up directly
            info = self.client.artist(str(known))
            conf = float(node.props.get("musicbrainz_match") or 1.0)
        else:
            match = self.client.resolve_artist(node.name)
            if match is None:
                return w, "no_match"
            info = self.client.artist(match.mbid)
            conf = match.confidence
        w.node(Label.ARTIST, node.key, {
            "mbid": info.mbid, "mb_type": info.type, "country": info.country,
            "begin_year": info.begin_year, "end_year": info.end_year,
            "mb_disambiguation": info.disambiguation or None, **self._prov(conf),
        })
        self._tag_edges(w, Label.ARTIST, node.key, Rel.HAS_GENRE, Label.GENRE,
                        [(g.name, max(g.count, 1)) for g in info.genres], conf)
        self._tag_edges(w, Label.ARTIST, node.key, Rel.TAGGED, Label.TAG,
                        [(t.name, t.count) for t in info.tags if t.count >= 1], conf)
        for m in info.memberships():
            member_is_me = m.member_mbid == info.mbid
            other_name, other_mbid = (m.group_name, m.group_mbid) if member_is_me else (m.member_name, m.member_mbid)
            other = self._artist_ref(w, other_name, other_mbid)
            if other is None or other == node.key:
                continue
            src, dst = (node.key, other) if member_is_me else (other, node.key)
            w.edge(Rel.MEMBER_OF, Label.ARTIST, src, Label.ARTIST, dst, {
                "relation": m.relation, "begin": m.begin, "end": m.end, **self._prov(conf),
            })
        return w, "enriched"

    def _mb_song(self, node: Node) -> tuple[_Writes, str]:
        w = _Writes()
        artist, title = _artist_title(node)
        match = self.client.resolve_recording(artist, title)
        if match is None:
            return w, "no_match"
        info = self.client.recording(match.mbid)
        conf = match.confidence
        first = info.first_release()
        w.node(Label.SONG, node.key, {
            "mbid": info.mbid, "isrcs": info.isrcs or None,
            "mb_first_release_date": info.first_release_date,
            "year": info.year if node.props.get("year") in (None, "", 0) else None,
            "album": first.title if first is not None and not node.props.get("album") else None,
            **self._prov(conf),
        })
        self._tag_edges(w, Label.SONG, node.key, Rel.HAS_GENRE, Label.GENRE,
                        [(g.name, max(g.count, 1)) for g in info.genres], conf)
        self._tag_edges(w, Label.SONG, node.key, Rel.TAGGED, Label.TAG,
                        [(t.name, t.count) for t in info.tags if t.count >= 1], conf)
        return w, "enriched"

    def _genius_song(self, node: Node) -> tuple[_Writes, str]:
        w = _Writes()
        artist, title = _artist_title(node)
        match = self.client.resolve_song(artist, title)
        if match is None:
            return w, "no_match"
        props: dict[str, Any] = {"genius_id": match.song.id, "genius_url": match.song.url,
                                 **self._prov(match.confidence)}
        if not node.props.get("lyrics_ref") and not match.song.instrumental:
            text = self.client.lyrics(match.song)
            if text:
                ref = text_ref(text)
                w.texts[ref] = text
                props.update({"lyrics_ref": ref, "lyrics_source": self.source})
        w.node(Label.SONG, node.key, props)
        return w, "enriched"

    def _lastfm_artist(self, node: Node) -> tuple[_Writes, str]:
        w = _Writes()
        similar = self.client.artist_similar(node.name, limit=MAX_SIMILAR)
        tags = self.client.artist_top_tags(node.name)
        w.node(Label.ARTIST, node.key, self._prov(1.0))
        existing = self._existing_out(Label.ARTIST, node.key, Rel.SIMILAR_TO)
        for s in similar:
            other = self._artist_ref(w, s.name, s.mbid)
            if other is None or other == node.key:
                continue
            props = {**self._prov(1.0), "lastfm_weight": s.match}
            if other not in existing:
                props["weight"] = s.match
            w.edge(Rel.SIMILAR_TO, Label.ARTIST, node.key, Label.ARTIST, other, props)
        self._tag_edges(w, Label.ARTIST, node.key, Rel.TAGGED, Label.TAG,
                        [(t.name, t.count / 100.0) for t in tags if t.count >= LASTFM_MIN_TAG_WEIGHT], 1.0)
        return w, ("enriched" if similar or tags else "no_match")

    def _lastfm_song(self, node: Node) -> tuple[_Writes, str]:
        w = _Writes()
        artist, title = _artist_title(node)
        tags = self.client.track_top_tags(artist, title)
        kept = [(t.name, t.count / 100.0) for t in tags if t.count >= LASTFM_MIN_TAG_WEIGHT]
        if not kept:
            return w, "no_match"
        w.node(Label.SONG, node.key, self._prov(1.0))
        self._tag_edges(w, Label.SONG, node.key, Rel.TAGGED, Label.TAG, kept, 1.0)
        return w, "enriched"


class _Stop(Exception):
    """Internal: ends the item loop after an aborting error (the report says why)."""


class _Progress:
    """A rich progress bar showing items, item rate, the API rate limit and requests sent."""

    def __init__(self, source: str, total: int, limit: str, enabled: bool) -> None:
        self.enabled = enabled and total > 0
        self.source = source
        self.total = total
        self.limit = limit
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} items/s"),
                TextColumn("limit {task.fields[limit]}"),
                TextColumn("requests {task.fields[requests]} (cache {task.fields[hits]})"),
                TimeElapsedColumn(),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                f"enrich {self.source}", total=self.total, rate="-", limit=self.limit, requests=0, hits=0
            )
        return self

    def advance(self, report: EnrichReport) -> None:
        if self._progress is None:
            return
        elapsed = self._progress.tasks[0].elapsed or 0.0
        rate = f"{report.processed / elapsed:.2f}" if elapsed > 0 else "-"
        self._progress.update(self._task, advance=1, rate=rate, requests=report.requests, hits=report.cache_hits)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
        return exc_type is _Stop


def make_client(source: str, *, offline: bool | None = None, base_url: str | None = None, **kwargs: Any) -> Any:
    """The API client of ``source`` configured from the settings (raises MissingCredentialError without key)."""
    if source == "musicbrainz":
        from musicgraph.loaders.musicbrainz import DEFAULT_BASE_URL, MusicBrainzClient

        return MusicBrainzClient(offline=offline, base_url=base_url or DEFAULT_BASE_URL, **kwargs)
    if source == "genius":
        from musicgraph.loaders.genius import GeniusClient

        return GeniusClient(offline=offline, **kwargs)
    if source == "lastfm":
        from musicgraph.loaders.lastfm import API_ROOT, LastFmClient

        return LastFmClient(offline=offline, base_url=base_url or API_ROOT, **kwargs)
    raise EnrichError(f"unknown enrichment source {source!r}; expected one of {', '.join(SOURCES)}")


def enrich(
    store: GraphStore,
    source: str,
    *,
    client: Any = None,
    limit: int | None = None,
    artist: str | None = None,
    targets: Sequence[str] | None = None,
    offline: bool | None = None,
    create_artists: bool | None = None,
    force: bool = False,
    progress: bool = False,
) -> EnrichReport:
    """Enrich ``store`` from ``source`` (see the module docstring); returns the run's report.

    Raises :class:`EnrichAborted` (with the partial report) when the service is unreachable, a key
    is missing or rejected, or rate limiting persists; :class:`EnrichError` for bad input.
    """
    if client is None:
        client = make_client(source, offline=offline)
    enricher = Enricher(store, source, client, create_artists=create_artists, force=force)
    return enricher.run(limit=limit, artist=artist, targets=targets, progress=progress)


def done_items(store: GraphStore, source: str, nodes: Sequence[Node]) -> Iterator[tuple[Node, dict[str, Any]]]:
    """The checkpoint records of ``nodes`` for ``source`` (nodes never enriched are left out)."""
    for node in nodes:
        raw = store.get_meta(checkpoint_key(source, node.label, node.key))
        if raw is not None:
            yield node, json.loads(raw)
