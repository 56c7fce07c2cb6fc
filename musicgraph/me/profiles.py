"""Import, show and forget a person's own listening history (``musicgraph me import | show | forget``).

The pieces come from the layers below: reading the files and services
(:mod:`musicgraph.loaders.history`), weighting, resolving and writing the User
(:mod:`musicgraph.graph.profile`), and the inductive GNN vector of the new user through the GNN
index's fold-in (:class:`musicgraph.gnn.derived_index.GnnEmbeddings`: the normalized sum of the vectors
of the artists and songs they played, no retraining). Everything stays on this machine: the User
node and its edges in the configured store, the vector in the local GNN index; nothing is sent
anywhere except the requests to Last.fm or ListenBrainz that ``--lastfm``/``--listenbrainz`` ask for.

:func:`forget` removes the User node with its relationships (and, in Neo4j, its vector-index entry),
removes its GNN vector from the FAISS index and compacts it (a tombstone would keep the vector's
bytes in the file), deletes the cached Last.fm/ListenBrainz answers of the imported accounts, and
rewrites the store's projection cache.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from musicgraph.graph.profile import (
    ListeningProfile,
    ProfileError,
    build_profile,
    delete_profile,
    list_profiles,
    write_profile,
)
from musicgraph.graph.resolve import personal_key
from musicgraph.graph.schema import Label, NodeRef

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

#: The profile name used when none is given.
DEFAULT_NAME = "default"


@dataclass(slots=True)
class ImportResult:
    """What :func:`import_history` did."""

    profile: ListeningProfile
    edges: dict[str, int]
    gnn: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The profile summary, the edges written per type, the GNN fold-in and the input files, as JSON."""
        return {**self.profile.summary(), "edges_written": dict(self.edges), "gnn": dict(self.gnn),
                "inputs": list(self.files)}


def _gnn_dir(settings: Settings, store: GraphStore) -> Path:
    from musicgraph.gnn.embed import index_dir

    return index_dir(settings)


def _fold_in(store: GraphStore, key: str, directory: Path) -> dict[str, Any]:
    """The new user's vector in the GNN index (and the store), or why there is none."""
    from musicgraph.gnn.derived_index import GnnEmbeddings
    from musicgraph.graph.catalog import ChangeSet

    gnn = GnnEmbeddings(directory)
    if not gnn.exists():
        return {"skipped": f"no GNN index in {directory} (musicgraph gnn train && musicgraph gnn embed)"}
    if Label.USER not in gnn.load().labels():
        return {"skipped": f"the GNN index in {directory} has no User vectors (a run that embeds users is needed)"}
    changes = ChangeSet()
    changes.note("updated", Label.USER, [key])
    out = gnn.apply(store, changes)
    idx = gnn.load()
    out["embedded"] = idx.vector(NodeRef(Label.USER, key)) is not None
    return out


def import_history(
    store: GraphStore,
    name: str = DEFAULT_NAME,
    *,
    paths: Sequence[str | Path] = (),
    lastfm: str | None = None,
    listenbrainz: str | None = None,
    settings: Settings | None = None,
    lastfm_client: Any = None,
    listenbrainz_client: Any = None,
    max_pages: int = 50,
    gnn: bool = True,
) -> ImportResult:
    """Read, resolve and write a person's history as the profile ``me:<name>`` (replacing an earlier one).

    Args:
        store: the graph store.
        name: the profile name.
        paths: history files, export directories or archives (:func:`~musicgraph.loaders.history.read_history`).
        lastfm / listenbrainz: account names to fetch scrobbles / listens from.
        settings: settings (default: the environment's).
        lastfm_client / listenbrainz_client: ready clients (tests).
        max_pages: at most this many API pages per service.
        gnn: give the user a fold-in vector in the GNN index when one exists.

    Raises:
        HistoryFormatError: a malformed input (``file:line``); nothing was written.
        ProfileError: nothing to import (no play, no catalog match); nothing was written.
    """
    from musicgraph.config import get_settings
    from musicgraph.loaders.history import HistoryRead, lastfm_plays, listenbrainz_plays, read_history

    settings = settings or get_settings()
    personal_key(name)  # a bad name fails before any reading
    if not paths and not lastfm and not listenbrainz:
        raise ProfileError("give a history FILE (or directory), --lastfm USER or --listenbrainz USER")
    read = HistoryRead([], [], 0, {})
    if paths:
        read.extend(read_history(paths))
    if lastfm:
        read.extend(lastfm_plays(lastfm, lastfm_client, max_pages=max_pages))
    if listenbrainz:
        read.extend(listenbrainz_plays(listenbrainz, listenbrainz_client, max_pages=max_pages))
    sources = [str(Path(f).name) if not f.startswith(("lastfm:", "listenbrainz:")) else f for f in read.files]
    prof = build_profile(store, name, read.plays, not_music=read.not_music, sources=sources)
    edges = write_profile(store, prof)
    result = ImportResult(prof, edges, files=list(read.files))
    if gnn:
        try:
            result.gnn = _fold_in(store, prof.key, _gnn_dir(settings, store))
        except (OSError, ValueError, RuntimeError) as exc:  # the profile stands without a vector
            log.warning("no GNN vector for %s: %s", prof.key, exc)
            result.gnn = {"skipped": f"fold-in failed: {exc}"}
    return result


def resolve_profile(store: GraphStore, name: str | None = None) -> str:
    """The User key of profile ``name``, or of the only profile when ``name`` is None.

    Raises:
        ProfileError: no such profile, none imported, several without a name, or an unfinished import.
    """
    if name is not None:
        key = personal_key(name)
        node = store.get_node(Label.USER, key)
        if node is None:
            have = ", ".join(k.split(":", 1)[1] for k in list_profiles(store)) or "none"
            raise ProfileError(f"no profile named {name!r} (imported: {have}); run `musicgraph me import FILE --name {name}`")
    else:
        keys = list_profiles(store)
        if not keys:
            raise ProfileError("no listening history imported: run `musicgraph me import FILE` first")
        if len(keys) > 1:
            names = ", ".join(k.split(":", 1)[1] for k in keys)
            raise ProfileError(f"several profiles ({names}): say which with --profile NAME")
        key = keys[0]
        node = store.get_node(Label.USER, key)
    assert node is not None
    if node.props.get("import_state") != "complete":
        raise ProfileError(f"the import of {key} did not finish: run `musicgraph me import` again")
    return key


def show(store: GraphStore, name: str | None = None) -> dict[str, Any]:
    """The stored profile of ``name`` (or the only one) as JSON-ready data."""
    key = resolve_profile(store, name)
    node = store.get_node(Label.USER, key)
    assert node is not None
    data = json.loads(node.props.get("profile") or "{}")
    data["imported_at"] = node.props.get("imported_at")
    data["has_gnn_vector"] = isinstance(node.props.get("embedding"), list) or _in_gnn_index(key)
    return data


def _in_gnn_index(key: str) -> bool:
    from musicgraph.config import get_settings
    from musicgraph.gnn.embed import GnnIndex, index_dir

    try:
        return GnnIndex.load(index_dir(get_settings())).vector(NodeRef(Label.USER, key)) is not None
    except (OSError, ValueError, RuntimeError):
        return False


def forget(store: GraphStore, name: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Delete a profile and everything derived from it (see the module docstring); returns what went.

    Args:
        store: the graph store holding the profile.
        name: the profile's name (``alice`` for ``me:alice``); None: the only profile there is.
        settings: where the GNN index and the HTTP cache are (default: the configured ones).

    Returns:
        ``user`` (the key), ``gnn_vectors_removed``, ``relationships_removed``, ``nodes_removed`` and
        ``http_cache_entries_removed``.

    Raises:
        ProfileError: no such profile, or no name given while there are several (or none).
    """
    from musicgraph.config import get_settings

    settings = settings or get_settings()
    if name is None:  # the only profile, finished or not (an interrupted import can be forgotten too)
        keys = list_profiles(store)
        if len(keys) != 1:
            raise ProfileError("no profile to forget" if not keys else
                               f"several profiles ({', '.join(k.split(':', 1)[1] for k in keys)}): say which with --name NAME")
        key = keys[0]
    else:
        key = personal_key(name)
    node = store.get_node(Label.USER, key)
    if node is None:
        raise ProfileError(f"no profile named {key.split(':', 1)[1]!r} to forget")
    out: dict[str, Any] = {"user": key}
    out["gnn_vectors_removed"] = _forget_gnn(key, _gnn_dir(settings, store))
    out["relationships_removed"] = len(store.neighbors(Label.USER, key))
    out["nodes_removed"] = int(delete_profile(store, key))
    out["http_cache_entries_removed"] = _forget_http(node.props.get("import_sources") or [], settings)
    store.projection()  # rewrite the projection cache without the person
    return out


def _forget_gnn(key: str, directory: Path) -> int:
    from musicgraph.gnn.embed import GnnIndex

    try:
        idx = GnnIndex.load(directory)
    except FileNotFoundError:
        return 0
    n = idx.delete([NodeRef(Label.USER, key)])
    if n:
        idx.compact()  # a tombstone would keep the vector's bytes in gnn.faiss
        idx.save(directory)
    return n


def _forget_http(sources: Sequence[str], settings: Settings) -> int:
    from musicgraph.loaders.http_cache import default_cache

    db = settings.cache_dir / "http.sqlite"
    if not db.exists():
        return 0
    cache = default_cache(settings.cache_dir)
    removed = 0
    try:
        for src in sources:
            service, _, account = str(src).partition(":")
            if not account:
                continue
            if service == "lastfm":
                removed += cache.delete_matching("lastfm", "method=user.getRecentTracks", urlencode({"user": account}))
            elif service == "listenbrainz":
                removed += cache.delete_matching("listenbrainz", f"/user/{quote(account, safe='')}/listens")
    finally:
        cache.close()
    return removed
