"""Hard filters of ``retrieve(..., filters=...)``, applied inside every retrieval component.

A filter dict is turned into one boolean mask over catalog rows (:func:`filter_mask`); BM25
(:meth:`IncrementalBM25.search`), FAISS (:meth:`DenseIndex.search` with ``mask``: ID selection or
exact brute force over the allowed vectors) and the graph walk (:func:`top_k_masked`) all rank only
allowed rows, so each returns exactly ``k`` matching results, or fewer only when fewer exist, and
never pads with zero-score rows.

Filters (all optional, combined with AND):

==========================  ==============================================================
``keys``                    song keys to choose from
``exclude_keys``            song keys to leave out
``artist`` / ``artists``    main artist name(s) or key(s) to keep (any of them)
``exclude_artists``         artist names or keys to leave out
``genre`` / ``genres``      genre name(s); a song matches if it (or its artist) has any
``tag`` / ``tags``          tag name(s), any of them
``mood`` / ``moods``        mood label(s), any of them
``year``                    ``(min, max)`` inclusive, either end ``None`` = open
audio features              ``(min, max)`` on danceability, energy, valence, tempo, acousticness,
                            instrumentalness, speechiness, liveness, loudness, mode, popularity
``estimated``               ``False``: feature ranges accept measured values only (default: graph
                            estimates, ``features_estimated``, count too)
``explicit``                ``False``: leave out songs marked explicit; ``True``: only those
``duplicates``              ``False``: keep one row per (artist, title without "(Remastered)"-style
                            suffixes), the most popular
``not_known_by``            a user key: leave out songs by artists the user listened to
==========================  ==============================================================

Songs whose value for a range-filtered feature is unknown never pass that filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from musicgraph.errors import RequestError
from musicgraph.normalize import word_form
from musicgraph.retrieval.catalog import FEATURES, SongTable

LIST_FILTERS = ("keys", "exclude_keys", "artist", "artists", "exclude_artists", "genre", "genres", "tag", "tags",
                "mood", "moods")
FLAG_FILTERS = ("explicit", "duplicates", "estimated", "not_known_by")
FILTER_NAMES: tuple[str, ...] = (*LIST_FILTERS, *FLAG_FILTERS, *FEATURES)

_SUFFIX = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]|\s+-\s+.*$")


class FilterError(RequestError):
    """A filter name or value that :func:`filter_mask` does not understand."""


def _as_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        out = [str(v) for v in value]
        if out:
            return out
    raise FilterError(f"filter {name!r}: expected a name or a non-empty list of names, got {value!r}")


#: Inverted indexes of catalog columns, keyed by the column list's id (the list itself is kept, so
#: the id stays valid; a replaced or resized column gets a fresh index). A few catalogs at most.
_INVERTED: dict[tuple[int, str], tuple[list[Any], int, dict[str, np.ndarray]]] = {}
_INVERTED_MAX = 16


def _inverted(column: list[Any], kind: str) -> dict[str, np.ndarray]:
    """``value -> rows`` of a catalog column, built once per column list.

    ``kind``: ``lower`` (lists of names, lower-cased), ``norm`` (one name per row, normalized) or
    ``exact`` (one key per row).
    """
    hit = _INVERTED.get((id(column), kind))
    if hit is not None and hit[0] is column and hit[1] == len(column):
        return hit[2]
    groups: dict[str, list[int]] = {}
    if kind == "lower":
        for i, vs in enumerate(column):
            for x in {v.lower() for v in vs}:
                groups.setdefault(x, []).append(i)
    else:
        memo: dict[str, str] = {}
        for i, v in enumerate(column):
            if kind == "norm":
                k = memo.get(v)
                if k is None:
                    k = memo[v] = word_form(v)
                v = k
            groups.setdefault(v, []).append(i)
    index = {k: np.asarray(rows, dtype=np.int64) for k, rows in groups.items()}
    if len(_INVERTED) >= _INVERTED_MAX:
        _INVERTED.pop(next(iter(_INVERTED)))
    _INVERTED[(id(column), kind)] = (column, len(column), index)
    return index


def warm_indexes(cat: SongTable) -> None:
    """Build the inverted indexes :func:`filter_mask` uses (keys, artists, tags, genres, moods) ahead of time."""
    _inverted(cat.keys, "exact")
    _inverted(cat.artist_keys, "exact")
    _inverted(cat.artists, "norm")
    for column in (cat.tags, cat.genres, cat.moods):
        _inverted(column, "lower")


def rows_with_any(values: list[list[str]], names: Iterable[str]) -> np.ndarray:
    """Boolean mask of the rows whose list (tags, genres or moods) holds any of ``names`` (case-insensitive)."""
    index = _inverted(values, "lower")
    out = np.zeros(len(values), dtype=bool)
    for n in {n.lower() for n in names}:
        rows = index.get(n)
        if rows is not None:
            out[rows] = True
    return out


def _artist_rows(cat: SongTable, names: list[str]) -> np.ndarray:
    """Rows whose main artist's normalized name or key is one of ``names`` (normalized or as given)."""
    want = {word_form(n) for n in names} | set(names)
    by_name, by_key = _inverted(cat.artists, "norm"), _inverted(cat.artist_keys, "exact")
    out = np.zeros(len(cat), dtype=bool)
    for w in want:
        for index in (by_name, by_key):
            rows = index.get(w)
            if rows is not None:
                out[rows] = True
    return out


def _any_of(values: list[list[str]], names: list[str]) -> np.ndarray:
    return rows_with_any(values, names)


def _key_rows(cat: SongTable, keys: list[str]) -> np.ndarray:
    index = _inverted(cat.keys, "exact")
    rows = [index[k] for k in set(keys) if k in index]
    return np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)


def base_title(title: str) -> str:
    """A title without parenthesized or dash suffixes ("Song (Remastered 2011)" -> "song")."""
    return word_form(_SUFFIX.sub("", title) or title)


def filter_mask(
    catalog: SongTable,
    filters: Mapping[str, Any] | None,
    known_rows: Callable[[str], set[int]] | None = None,
    explicit: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask over catalog rows: alive and satisfying every filter (see the module docstring).

    Args:
        known_rows: ``user key -> rows the user already knows`` (for ``not_known_by``).
        explicit: per-row explicit flag (1 explicit, 0 clean, -1 unknown); default read from the catalog.

    Raises:
        FilterError: an unknown filter name (the message lists the allowed ones) or a bad value.
    """
    cat = catalog
    n = len(cat)
    mask = cat.alive.copy()
    filters = dict(filters or {})
    allow_est = filters.pop("estimated", True)
    if not isinstance(allow_est, bool):
        raise FilterError(f"filter 'estimated': expected true or false, got {allow_est!r}")
    for name, value in filters.items():
        if value is None:
            continue
        if name == "keys":
            keep = np.zeros(n, dtype=bool)
            keep[_key_rows(cat, _as_list(name, value))] = True
            mask &= keep
        elif name == "exclude_keys":
            mask[_key_rows(cat, _as_list(name, value))] = False
        elif name in ("artist", "artists"):
            mask &= _artist_rows(cat, _as_list(name, value))
        elif name == "exclude_artists":
            mask &= ~_artist_rows(cat, _as_list(name, value))
        elif name in ("genre", "genres"):
            mask &= _any_of(cat.genres, _as_list(name, value))
        elif name in ("tag", "tags"):
            mask &= _any_of(cat.tags, _as_list(name, value))
        elif name in ("mood", "moods"):
            mask &= _any_of(cat.moods, _as_list(name, value))
        elif name in FEATURES:
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise FilterError(f"filter {name!r}: expected a (min, max) pair, got {value!r}")
            lo, hi = value
            col = cat.feature(name)
            ok = ~np.isnan(col)
            if lo is not None:
                ok &= col >= float(lo)
            if hi is not None:
                ok &= col <= float(hi)
            if not allow_est and cat.estimated is not None and name not in ("year", "popularity", "mode"):
                ok &= ~cat.estimated
            mask &= ok
        elif name == "explicit":
            if not isinstance(value, bool):
                raise FilterError(f"filter 'explicit': expected true or false, got {value!r}")
            flags = explicit if explicit is not None else cat.explicit_flags()
            mask &= (flags == 1) if value else (flags != 1)
        elif name == "duplicates":
            if not isinstance(value, bool):
                raise FilterError(f"filter 'duplicates': expected true or false, got {value!r}")
            if not value:
                mask &= dedupe_mask(cat, mask)
        elif name == "not_known_by":
            if known_rows is None:
                raise FilterError("filter 'not_known_by' needs the graph (known_rows) to find the user's songs")
            known = known_rows(str(value))
            if known:
                mask[np.fromiter(known, dtype=np.int64)] = False
        else:
            raise FilterError(f"unknown filter {name!r}; expected one of {', '.join(FILTER_NAMES)}")
    if len(mask) != n:  # pragma: no cover - defensive
        raise FilterError("internal: filter mask length differs from the catalog")
    return mask


def dedupe_mask(cat: SongTable, allowed: np.ndarray) -> np.ndarray:
    """Keep, among allowed rows, one per (artist, base title): the most popular, then the lowest row."""
    pop = cat.feature("popularity")
    best: dict[tuple[str, str], int] = {}
    for r in np.flatnonzero(allowed).tolist():
        key = (cat.artist_keys[r], base_title(cat.titles[r]))
        cur = best.get(key)
        if cur is None:
            best[key] = r
            continue
        pr, pc = pop[r], pop[cur]
        pr = -1.0 if np.isnan(pr) else pr
        pc = -1.0 if np.isnan(pc) else pc
        if pr > pc:
            best[key] = r
    keep = np.zeros(len(cat), dtype=bool)
    keep[list(best.values())] = True
    return keep


def top_k_masked(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` best positive scores among ``mask``-allowed rows, best first (ties by row).

    Returns fewer than ``k`` rows only when fewer allowed rows have a positive score.
    """
    cand = np.flatnonzero(mask & (scores > 0))
    if len(cand) > k:
        part = cand[np.argpartition(-scores[cand], k - 1)[:k]]
        kth = scores[part].min()
        cand = np.union1d(part, cand[scores[cand] == kth])
    return cand[np.lexsort((cand, -scores[cand]))][:k]


def to_constraints(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :class:`~musicgraph.retrieval.request.Constraints` fields that a filter dict describes.

    ``year`` -> ``years``; ``genre(s)``, ``tag(s)``, ``mood(s)`` -> the lists (every one required);
    ``exclude_artists`` -> ``exclude``; feature ranges -> ``features``; ``popularity`` -> ``features``
    (Spotify's 0..100 scale); ``explicit`` as is. Filters with no constraint counterpart (``keys``,
    ``duplicates``, ``not_known_by``, ``estimated``, ``artists``) are hybrid-retrieval options only.

    Raises:
        FilterError: an unknown filter name or a value of the wrong shape.
    """
    out: dict[str, Any] = {}
    for name, value in (filters or {}).items():
        if value is None:
            continue
        if name == "year":
            out["years"] = _pair(name, value)
        elif name in ("genre", "genres", "tag", "tags", "mood", "moods"):
            key = name if name.endswith("s") else name + "s"
            out.setdefault(key, []).extend(_as_list(name, value))
        elif name == "exclude_artists":
            out.setdefault("exclude", []).extend({"label": "Artist", "name": a} for a in _as_list(name, value))
        elif name in FEATURES:
            out.setdefault("features", {})[name] = _pair(name, value)
        elif name == "explicit":
            if not isinstance(value, bool):
                raise FilterError(f"filter 'explicit': expected true or false, got {value!r}")
            out["explicit"] = value
        elif name in FILTER_NAMES:
            raise FilterError(f"filter {name!r} is an option of hybrid retrieval (retrieve(..., filters=...)), "
                              "not a request constraint")
        else:
            raise FilterError(f"unknown filter {name!r}; expected one of year, genres, tags, moods, exclude_artists, "
                              f"explicit, {', '.join(f for f in FEATURES if f != 'year')}")
    return out


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise FilterError(f"filter {name!r}: expected a (min, max) pair, got {value!r}")
    return (value[0], value[1])
