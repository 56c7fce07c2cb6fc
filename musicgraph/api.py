"""The small top-level library API: ``recommend``, ``retrieve``, ``ask``, ``search`` and ``parse``.

Each is a thin front-end onto one :class:`~musicgraph.retrieval.request.Request` and the
:class:`~musicgraph.retrieval.base.Retriever` interface: ``recommend`` builds the request from
keyword seeds and answers it with the graph retriever, ``retrieve`` parses free text (or takes a
request) and answers it with the hybrid retriever, ``search`` takes a request and a retriever by
name, and ``ask`` writes a grounded answer from the hybrid retriever's results.

Each opens the configured store (embedded by default, Neo4j when ``MUSICGRAPH_NEO4J_URI`` is set)
unless one is passed, and keeps it open for later calls in the same process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from musicgraph.config import get_settings
from musicgraph.graph import GraphStore, open_store
from musicgraph.graph.results import Result

if TYPE_CHECKING:
    from musicgraph.retrieval.base import Retriever
    from musicgraph.retrieval.request import Request

__all__ = ["ask", "default_store", "get_retriever", "parse", "recommend", "recommend_request", "retrieve", "search",
           "set_default_store"]

_DEFAULT_STORE: GraphStore | None = None

RetrieverName = Literal["graph", "hybrid", "bm25", "dense", "gnn"]


def default_store() -> GraphStore:
    """The process-wide store opened from the settings (created on first use)."""
    global _DEFAULT_STORE
    if _DEFAULT_STORE is None:
        _DEFAULT_STORE = open_store(get_settings())
    return _DEFAULT_STORE


def set_default_store(store: GraphStore | None) -> None:
    """Replace (or forget, with None) the process-wide store."""
    global _DEFAULT_STORE
    _DEFAULT_STORE = store


def get_retriever(name: RetrieverName = "hybrid", store: GraphStore | None = None) -> Retriever:
    """A retriever over the configured store (cached per store), by name.

    ``graph`` needs only the store; ``hybrid``, ``bm25`` and ``dense`` also need the retrieval
    indexes (``musicgraph index build``); ``gnn`` needs trained embeddings (``musicgraph gnn train``).

    Args:
        name: ``graph``, ``hybrid``, ``bm25``, ``dense`` or ``gnn``.
        store: the store to answer from (default: :func:`default_store`).

    Returns:
        A :class:`~musicgraph.retrieval.base.Retriever`; its ``search(request)`` answers requests.

    Raises:
        RequestError: an unknown name.
        FileNotFoundError: the indexes or embeddings the retriever needs are missing.
    """
    from musicgraph.retrieval import retriever_by_name

    return retriever_by_name(name, store or default_store())


def search(request: Request | Mapping[str, Any] | str, *, retriever: RetrieverName = "hybrid",
           store: GraphStore | None = None, **changes: Any) -> list[Result]:
    """Answer a :class:`Request` (or its JSON form, or free text) with the named retriever.

    Args:
        request: a :class:`Request`, its JSON form (a mapping), or free text, which the retriever's
            parser turns into a request.
        retriever: which retriever answers (see :func:`get_retriever`).
        store: the store to answer from (default: :func:`default_store`).
        **changes: request fields replaced before searching (``k=20``, ``kind="artist"``).

    Returns:
        At most ``k`` results of the request's kind, best first, each with its score and evidence.

    Raises:
        RequestError: an invalid request or retriever name (one line naming the field).
        UnknownEntityError: a seed or exclusion that is not in the graph.
        FileNotFoundError: the retriever's indexes or embeddings are missing.

    Example::

        >>> musicgraph.search({"seeds": [{"label": "Artist", "name": "Eminem", "relation": "fans_of"}],
        ...                    "constraints": {"tags": ["rock"]}, "kind": "artist"}, retriever="graph")
    """
    return get_retriever(retriever, store).search(request, **changes)


def parse(text: str, *, store: GraphStore | None = None) -> Request:
    """The :class:`Request` that free ``text`` describes (entities linked against the store's catalog).

    Nothing is searched: the result shows how ``text`` is understood (seeds, relations, constraints,
    mood and audio targets) and can be edited and passed to :func:`search`.
    """
    return get_retriever("graph", store).parse(text)


def recommend(
    request: Request | Mapping[str, Any] | None = None,
    *,
    user: str | None = None,
    artists: Sequence[str] = (),
    songs: Sequence[str] = (),
    albums: Sequence[str] = (),
    playlists: Sequence[str] = (),
    tags: Sequence[str] = (),
    genres: Sequence[str] = (),
    moods: Sequence[str] = (),
    relation: str | None = None,
    exclude: Sequence[str] = (),
    k: int = 10,
    kind: str = "song",
    exclude_known: bool = True,
    max_per_artist: int | None = None,
    combine: str = "any",
    retriever: RetrieverName = "graph",
    store: GraphStore | None = None,
) -> list[Result]:
    """Multi-hop recommendations from seeds, each with the paths that explain it.

    Seeds relate to the answers by ``relation`` (``fans_of``, ``similar_to``, ``performed_by``,
    ``member_of``, ``same_album``, ``in_playlist_with``, ``related``; default per label: artists and
    songs ``similar_to``, playlists ``in_playlist_with``, users ``listened_by``). Tags, genres and
    moods are **constraints** every answer satisfies (alone, without other seeds, they also rank).

    Example::

        >>> import musicgraph
        >>> for r in musicgraph.recommend(artists=["Eminem"], relation="fans_of", tags=["rock"], kind="artist"):
        ...     print(r.rank, r.display(), r.paths[0].explain())

    Args:
        request: a full :class:`Request` instead of the keywords (they are then ignored).
        user: a user key (``"2"`` = ``"hetrec:2"``, ``"me:alex"``): personalize; known items are left out.
        artists, songs, albums, playlists: seed names (songs as ``"ARTIST - TITLE"`` or a title).
        tags, genres, moods: constraints.
        relation: how the seeds relate to the answers.
        exclude: artist names never returned (nor their songs).
        k: number of results (1..1000); ``kind``: ``song``, ``artist``, ``album`` or ``playlist``.
        exclude_known: leave out a user's known items (seeds are always left out).
        max_per_artist: at most this many songs or albums of one artist (default 2 for songs).
        combine: ``any`` (a blend of the seeds) or ``all`` (answers related to every seed).
        retriever: which retriever answers (default the graph; ``hybrid`` adds text and emotion).
        store: the store to answer from (default: :func:`default_store`).

    Returns:
        At most ``k`` results of ``kind``, best first; each result's ``paths`` explain it from the seeds.

    Raises:
        RequestError: an invalid request (one line naming the field).
        UnknownEntityError: a seed, tag, genre or mood that is not in the graph (with suggestions).
        EmptyStoreError: the store has no data.
    """
    st = store or default_store()
    if request is None:
        request = recommend_request(user=user, artists=artists, songs=songs, albums=albums, playlists=playlists,
                                    tags=tags, genres=genres, moods=moods, relation=relation, exclude=exclude, k=k,
                                    kind=kind, exclude_known=exclude_known, max_per_artist=max_per_artist,
                                    combine=combine)
    return get_retriever(retriever, st).search(request)


def recommend_request(
    *,
    user: str | None = None,
    artists: Sequence[str] = (),
    songs: Sequence[str] = (),
    albums: Sequence[str] = (),
    playlists: Sequence[str] = (),
    tags: Sequence[str] = (),
    genres: Sequence[str] = (),
    moods: Sequence[str] = (),
    relation: str | None = None,
    exclude: Sequence[str] = (),
    k: int = 10,
    kind: str = "song",
    exclude_known: bool = True,
    max_per_artist: int | None = None,
    combine: str = "any",
) -> Request:
    """The :class:`Request` that :func:`recommend`'s keywords describe (see there).

    Raises:
        RequestError: no seed at all, or an invalid value (one line naming the field).
    """
    from musicgraph.errors import RequestError
    from musicgraph.graph.resolve import user_key
    from musicgraph.retrieval.request import parse_request

    seeds: list[dict[str, Any]] = []
    for label, names in (("Artist", artists), ("Song", songs), ("Album", albums), ("Playlist", playlists)):
        seeds += [{"label": label, "name": n, "relation": relation} for n in names]
    if user is not None:
        seeds.append({"label": "User", "name": str(user), "key": user_key(str(user)), "relation": "listened_by"})
    if not (seeds or tags or genres or moods):
        raise RequestError("give at least one seed: a user, artist, song, album, playlist, tag, genre or mood")
    return parse_request({
        "seeds": seeds,
        "combine": combine,
        "constraints": {"tags": list(tags), "genres": list(genres), "moods": list(moods),
                        "exclude": [{"label": "Artist", "name": n} for n in exclude],
                        "include_known": not exclude_known},
        "kind": kind,
        "k": k,
        "diversity": {"max_per_artist": max_per_artist},
    })


def retrieve(query: str | Request | Mapping[str, Any], k: int | None = None, *, store: GraphStore | None = None,
             **options: Any) -> list[Result]:
    """Hybrid retrieval (BM25 + dense + graph operators, emotion/audio re-rank) for free text or a request.

    Args:
        query: free text, a :class:`Request`, or its JSON form.
        k: number of results (default: the request's, 10 for free text).
        store: the store to answer from (default: :func:`default_store`).
        **options: ``user``, ``exclude_known``, ``filters``, the component switches (``use_bm25``,
            ``use_dense``, ``use_graph``, ``use_emotion``, ``use_audio``, ``use_gnn``), ``explain``,
            ``fusion``, ``use_trending`` and ``index_dir``; see
            :func:`musicgraph.retrieval.retriever.retrieve`.

    Returns:
        The top results, best first, each with its per-component evidence.

    Raises:
        RequestError: an empty or invalid request.
        UnknownEntityError: an unknown user or entity.
        FileNotFoundError: the retrieval indexes are not built (the message says what to run).
    """
    from musicgraph.retrieval.retriever import retrieve as _retrieve

    return _retrieve(query, k=k, store=store or default_store(), **options)


def ask(question: str, k: int = 5, *, store: GraphStore | None = None, **options: Any) -> Any:
    """A grounded answer in words, citing retrieved songs.

    Args:
        question: the request in words ("melancholic songs like Radiohead").
        k: number of recommendations (1..50).
        store: the store to answer from (default: :func:`default_store`).
        **options: ``backend``, ``history`` (a :class:`~musicgraph.rag.chat.ChatState` for follow-ups),
            ``filters``, ``user``, ``regenerate`` and more; see :func:`musicgraph.rag.ask.ask`.

    Returns:
        A :class:`~musicgraph.rag.ask.Answer`: the text, the numbered recommendations it cites, the
        evidence it was written from, timings and what grounding removed.

    Raises:
        ValueError: an empty question or ``k`` out of range (``RequestError`` for a bad filter).
        GeneratorError: the backend cannot be loaded.
    """
    from musicgraph.rag.ask import ask as _ask

    return _ask(question, k=k, store=store or default_store(), **options)
