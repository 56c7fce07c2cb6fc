"""The paraphrase benchmark of request parsers: phrasing families, a generator, and request metrics.

A **family** is one way of asking for one kind of request ("<tag> artists that fans of <artist>
listen to"), written as several surface templates the way different people would write it, plus the
**gold** structured request those templates mean. Families live in TOML files: the tuned families
ship as package data (``musicgraph/evaluation/requests/tuned.toml``); any other file (the held-out
families, written after tuning ends) is read the same way and reported as its own group::

    group = "tuned"                         # optional; default: the file's stem

    [[family]]
    name = "fans_tag_artists"
    covers = ["fans_of", "tags", "kind"]    # what it exercises (documentation)
    downstream = "fans_tag"                 # optional: also judged by held-out listeners (see below)
    variants = ["plain", "lower", "typo"]   # optional; the default is all three
    templates = [
      "{tag} artists that fans of {artist} listen to",
      "which {tag} bands do {artist} fans also play?",
    ]
    [family.gold]
    kind = "artist"
    seeds = [{slot = "artist", relation = "fans_of"}]
    tags = ["{tag}"]

Slots (``{name}``; a trailing digit makes another value of the same type, ``{artist2}``) are filled
from the real catalog with a fixed seed (:class:`SlotPool`): ``artist`` (artists with listeners),
``collab`` (artists with shared song credits), ``tag`` (Last.fm tags on >= 50 artists that are also
genre names), ``genre``, ``mood``, ``album_song`` / ``playlist_song`` (songs on an album / in a
playlist; ``{album_song.artist}`` is the song's artist), ``playlist`` (a Spotify editorial playlist),
``decade``, ``year_before``, ``year_after``, ``feature`` (an audio-feature phrase such as
"danceable"), ``pop`` (a popularity phrase such as "obscure") and ``k`` (a count: "5", "twenty").
Gold fields: ``kind``, ``k`` (a number or ``"{k}"``), ``seeds`` (``slot`` + ``relation``),
``combine``, ``tags``/``genres``/``moods`` (slot references), ``years`` (``"{decade}"``...),
``features`` (``["{feature}"]`` or literal ``["instrumentalness:high"]``), ``popularity``
(``"{pop}"``), ``explicit`` and ``exclude``
(``[{slot = "artist2"}]``).

**Variants**: ``plain`` (names as the catalog writes them), ``lower`` (the whole text lower-cased)
and ``typo`` (one character edit on an artist or song name: a swap, a drop, a doubled or a
neighbouring key; the gold keeps the right entity).

**Metrics** (:func:`score`): a request is compared slot by slot in a convention-free form
(:func:`slot_sets`): ``kind``; ``k`` only when the text states it; ``seeds`` as (label, key,
relation) of the entity seeds; ``combine`` only with two or more entity seeds; ``tags`` (tags and
genres by normalized name; a tag seed counts as the tag when the request has no entity seed);
``moods`` (hard or soft); ``years``; ``features`` as (feature, direction), hard or soft (an extra
soft target, such as the valence profile a mood word implies, is not a false positive, since it
excludes nothing); ``popularity`` as its
direction (low / high / band); ``explicit``; ``exclude`` as (label, key). **Exact match** needs every
slot equal; **per-slot precision / recall / F1** are micro-averaged over the items of a group.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import numpy as np

from musicgraph.graph.resolve import normalize_tag
from musicgraph.graph.schema import Label
from musicgraph.retrieval.request import Relation, Request, parse_request

log = logging.getLogger(__name__)

__all__ = [
    "SLOT_NAMES",
    "Family",
    "Item",
    "SlotPool",
    "SlotValue",
    "generate",
    "load_families",
    "render",
    "score",
    "slot_sets",
    "typo",
    "tuned_families_path",
]

#: The slots a request is compared on, in report order.
SLOT_NAMES: tuple[str, ...] = ("kind", "k", "seeds", "combine", "tags", "moods", "years", "features",
                               "popularity", "explicit", "exclude")
VARIANTS: tuple[str, ...] = ("plain", "lower", "typo")
SLOT_TYPES: frozenset[str] = frozenset({"artist", "collab", "tag", "genre", "mood", "album_song", "playlist_song",
                                        "playlist", "decade", "year_before", "year_after", "feature", "pop", "k"})
_SOFT_FEATURES = "_soft_features"
ENTITY_LABELS = frozenset({Label.ARTIST, Label.SONG, Label.ALBUM, Label.PLAYLIST, Label.USER})
_SLOT = re.compile(r"\{([a-z_]+?)(\d*)(?:\.([a-z_]+))?\}")
_GOLD_FIELDS = frozenset({"kind", "k", "seeds", "combine", "tags", "genres", "moods", "years", "features",
                          "popularity", "explicit", "exclude"})

#: decade start -> the ways people write it
DECADES: dict[int, tuple[str, ...]] = {
    1960: ("60s", "1960s", "sixties"), 1970: ("70s", "1970s", "seventies"), 1980: ("80s", "1980s", "eighties"),
    1990: ("90s", "1990s", "nineties"), 2000: ("2000s", "00s", "noughties"), 2010: ("2010s", "10s", "2010s"),
}
#: surface -> (audio feature, direction)
FEATURES: dict[str, tuple[str, str]] = {
    "danceable": ("danceability", "high"), "high-energy": ("energy", "high"), "low-energy": ("energy", "low"),
    "fast": ("tempo", "high"), "fast-paced": ("tempo", "high"), "slow": ("tempo", "low"),
    "instrumental": ("instrumentalness", "high"), "loud": ("loudness", "high"), "quiet": ("loudness", "low"),
}
_FEATURE_RANGES: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("danceability", "high"): (0.6, None), ("energy", "high"): (0.6, None), ("energy", "low"): (None, 0.4),
    ("tempo", "high"): (120.0, None), ("tempo", "low"): (None, 95.0), ("instrumentalness", "high"): (0.5, None),
    ("loudness", "high"): (-6.0, None), ("loudness", "low"): (None, -12.0),
}
#: surface -> popularity direction
POPULARITY: dict[str, str] = {
    "obscure": "low", "lesser-known": "low", "underground": "low", "underrated": "low", "little-known": "low",
    "popular": "high", "well-known": "high", "mainstream": "high", "famous": "high",
}
_POP_RANGES = {"low": (None, 50.0), "high": (50.0, None)}
COUNTS: tuple[tuple[str, int], ...] = (("5", 5), ("five", 5), ("20", 20), ("twenty", 20), ("3", 3), ("three", 3),
                                      ("15", 15), ("seven", 7), ("8", 8), ("a dozen", 12), ("12", 12), ("25", 25))
_ASCII_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 .'&!,+-]*$")
#: keyboard neighbours for typos
_NEIGHBOURS = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm", "wetryuiopoadsfghjkkxcvbnmn", strict=True)}


# ------------------------------------------------------------------------------------- families
@dataclass(frozen=True, slots=True)
class Family:
    """One phrasing family: templates that all mean the gold request (see the module docstring)."""

    name: str
    group: str
    templates: tuple[str, ...]
    gold: Mapping[str, Any]
    variants: tuple[str, ...] = VARIANTS
    downstream: str | None = None
    covers: tuple[str, ...] = ()
    source: str = ""

    def slots(self) -> list[str]:
        """The slot names the templates use (``artist``, ``artist2``...), in first-use order."""
        out: list[str] = []
        for t in self.templates:
            for m in _SLOT.finditer(t):
                name = m.group(1) + m.group(2)
                if name not in out:
                    out.append(name)
        return out


def tuned_families_path() -> Path:
    """The package's tuned families (``musicgraph/evaluation/requests/tuned.toml``)."""
    return Path(str(importlib_resources.files("musicgraph.evaluation") / "requests" / "tuned.toml"))


def _slot_type(name: str) -> str:
    return name.rstrip("0123456789")


def _refs(value: Any) -> list[str]:
    """Slot names referenced by a gold value (``"{tag}"``, ``{slot = "artist"}``, lists of those)."""
    if isinstance(value, str):
        return [m.group(1) + m.group(2) for m in _SLOT.finditer(value)]
    if isinstance(value, Mapping):
        return [str(value["slot"])] if "slot" in value else []
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def load_families(path: Path | str | None = None, group: str | None = None) -> list[Family]:
    """The families of a TOML file (default: the tuned families).

    Raises:
        ValueError: one line naming the file, the family and what is wrong.
    """
    path = Path(path) if path is not None else tuned_families_path()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read families file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    grp = group or str(doc.get("group") or path.stem)
    out: list[Family] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("family", [])):
        where = f"{path}: family {raw.get('name', i)!r}"
        name = str(raw.get("name") or "")
        if not name or name in seen:
            raise ValueError(f"{where}: every family needs a unique name")
        seen.add(name)
        templates = tuple(str(t) for t in raw.get("templates", []))
        if not templates:
            raise ValueError(f"{where}: no templates")
        gold = dict(raw.get("gold") or {})
        unknown = set(gold) - _GOLD_FIELDS
        if unknown:
            raise ValueError(f"{where}: unknown gold field(s) {', '.join(sorted(unknown))}")
        if "kind" not in gold:
            raise ValueError(f"{where}: gold.kind is required")
        variants = tuple(raw.get("variants", VARIANTS))
        if set(variants) - set(VARIANTS) or not variants:
            raise ValueError(f"{where}: variants must be among {', '.join(VARIANTS)}")
        fam = Family(name, grp, templates, gold, variants, raw.get("downstream"), tuple(raw.get("covers", ())),
                     str(path))
        for t in templates:
            used = {m.group(1) + m.group(2) for m in _SLOT.finditer(t)}
            for s in used:
                if _slot_type(s) not in SLOT_TYPES:
                    raise ValueError(f"{where}: template {t!r} uses unknown slot {{{s}}}")
            for field_name, value in gold.items():
                for ref in _refs(value):
                    if ref not in used:
                        raise ValueError(f"{where}: template {t!r} does not mention {{{ref}}} that gold.{field_name} uses")
        for entry in gold.get("features", []):
            if not _refs(entry) and tuple(str(entry).split(":", 1)) not in _FEATURE_RANGES:
                known = ", ".join(f"{a}:{b}" for a, b in _FEATURE_RANGES)
                raise ValueError(f"{where}: gold feature {entry!r} is neither a slot nor one of {known}")
        if fam.downstream is not None:
            if fam.downstream != "fans_tag" or set(fam.slots()) != {"artist", "tag"}:
                raise ValueError(f"{where}: downstream 'fans_tag' families use exactly the slots {{artist}} and {{tag}}")
        out.append(fam)
    if not out:
        raise ValueError(f"{path}: no [[family]] tables")
    return out


# ----------------------------------------------------------------------------------------- slots
@dataclass(frozen=True, slots=True)
class SlotValue:
    """A filled slot: its surface text, what it means, and sub-fields (``{album_song.artist}``).

    Attributes:
        surface: the words put into the template.
        label, key, name: the entity (songs, artists, playlists) or the tag/genre/mood name.
        value: for non-entities, the gold value (years range, (feature, direction), direction, k).
        sub: sub-slot texts (``artist`` of a song).
    """

    surface: str
    label: str | None = None
    key: str | None = None
    name: str | None = None
    value: Any = None
    sub: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SlotPool:
    """Catalog values each slot type is drawn from (sorted lists; sampling is seeded by the caller)."""

    artists: list[tuple[str, str]]
    collabs: list[tuple[str, str]]
    tags: list[tuple[str, str]]
    genres: list[tuple[str, str]]
    moods: list[str]
    album_songs: list[tuple[str, str, str]]
    playlist_songs: list[tuple[str, str, str]]
    playlists: list[tuple[str, str]]
    known_names: frozenset[str] = frozenset()

    @classmethod
    def from_store(cls, store: Any, catalog: Any = None, *, min_listeners: int = 30, min_tag_artists: int = 50,
                   min_genre_artists: int = 30) -> SlotPool:
        """Values from an ingested store (``catalog``: its song catalog, default read from the store)."""
        if catalog is None:
            from musicgraph.retrieval.catalog import SongTable

            catalog = SongTable.from_store(store)
        proj = store.projection()
        lr = proj.label_ranges
        alo, ahi = lr.get(Label.ARTIST, (0, 0))
        mats = proj.matrices

        def col_counts(rel: str, src: str) -> np.ndarray:
            mat = mats.get(rel)
            if mat is None or mat.nnz == 0:
                return np.zeros(proj.num_nodes)
            lo, hi = lr.get(src, (0, 0))
            sub = mat[lo:hi].copy()
            sub.data[:] = 1.0
            return np.asarray(sub.sum(axis=0)).ravel()

        def ok(name: str) -> bool:
            return bool(_ASCII_NAME.match(name)) and len(name) >= 2

        listeners = col_counts("LISTENED_TO", Label.USER)
        artists = [(str(proj.keys[i]), str(proj.names[i])) for i in range(alo, ahi)
                   if listeners[i] >= min_listeners and ok(str(proj.names[i]))]
        # collaborators: artists credited on a song together with another artist
        perf = mats.get("PERFORMED_BY")
        collab_nodes: set[int] = set()
        if perf is not None and perf.nnz:
            slo, shi = lr.get(Label.SONG, (0, 0))
            by_song = perf[slo:shi].tocsr()
            multi = np.flatnonzero(np.diff(by_song.indptr) >= 2)
            for r in multi.tolist():
                collab_nodes.update(by_song.indices[by_song.indptr[r]:by_song.indptr[r + 1]].tolist())
        collabs = [(str(proj.keys[i]), str(proj.names[i])) for i in sorted(collab_nodes)
                   if alo <= i < ahi and ok(str(proj.names[i]))]
        tagged = col_counts("TAGGED", Label.ARTIST)
        genre_art = col_counts("HAS_GENRE", Label.ARTIST)
        glo, ghi = lr.get(Label.GENRE, (0, 0))
        genre_keys = {str(proj.keys[i]) for i in range(glo, ghi)}
        tlo, thi = lr.get(Label.TAG, (0, 0))
        tags = [(str(proj.keys[i]), str(proj.names[i])) for i in range(tlo, thi)
                if tagged[i] >= min_tag_artists and str(proj.keys[i]) in genre_keys and ok(str(proj.names[i]))]
        genres = [(str(proj.keys[i]), str(proj.names[i])) for i in range(glo, ghi)
                  if genre_art[i] >= min_genre_artists and ok(str(proj.names[i]))]
        mlo, mhi = lr.get(Label.MOOD, (0, 0))
        moods = sorted(str(proj.keys[i]) for i in range(mlo, mhi))

        def songs_with(rel: str) -> list[tuple[str, str, str]]:
            mat = mats.get(rel)
            slo, shi = lr.get(Label.SONG, (0, 0))
            if mat is None or mat.nnz == 0:
                return []
            has = np.diff(mat[slo:shi].tocsr().indptr) > 0
            out = []
            for i in np.flatnonzero(has).tolist():
                key = str(proj.keys[slo + i])
                row = catalog.row(key)
                if row is None:
                    continue
                title, artist = str(catalog.titles[row]), str(catalog.artists[row])
                if ok(title) and ok(artist) and len(title) >= 4 and "(" not in title and " - " not in title:
                    out.append((key, title, artist))
            return out

        plo, phi = lr.get(Label.PLAYLIST, (0, 0))
        playlists = [(str(proj.keys[i]), str(proj.names[i])) for i in range(plo, phi)
                     if str(proj.keys[i]).startswith("spotify300:") and ok(str(proj.names[i]))]
        known = frozenset(normalize_tag(n) for _, n in artists)
        return cls(sorted(artists), sorted(collabs), sorted(tags), sorted(genres), moods,
                   sorted(songs_with("ON_ALBUM")), sorted(songs_with("IN_PLAYLIST")), sorted(playlists), known)

    def sample(self, slot_type: str, rng: np.random.Generator, avoid: Iterable[str] = ()) -> SlotValue:
        """One value of ``slot_type`` whose key (or surface) is not in ``avoid``.

        Raises:
            ValueError: the pool has no value of that type.
        """
        avoid = set(avoid)

        def pick(items: Sequence[Any], key: Any = lambda x: x[0]) -> Any:
            if not items:
                raise ValueError(f"the catalog has no values for slot type {slot_type!r}")
            for _ in range(50):
                it = items[int(rng.integers(0, len(items)))]
                if key(it) not in avoid:
                    return it
            return items[int(rng.integers(0, len(items)))]

        if slot_type in ("artist", "collab"):
            key, name = pick(self.artists if slot_type == "artist" else self.collabs)
            return SlotValue(name, Label.ARTIST, key, name)
        if slot_type in ("tag", "genre"):
            key, name = pick(self.tags if slot_type == "tag" else self.genres)
            return SlotValue(name, Label.TAG if slot_type == "tag" else Label.GENRE, key, name)
        if slot_type == "mood":
            mood = pick(self.moods, key=lambda x: x)
            return SlotValue(mood, Label.MOOD, mood, mood)
        if slot_type in ("album_song", "playlist_song"):
            key, title, artist = pick(self.album_songs if slot_type == "album_song" else self.playlist_songs)
            return SlotValue(title, Label.SONG, key, title, sub={"artist": artist})
        if slot_type == "playlist":
            key, name = pick(self.playlists)
            return SlotValue(name, Label.PLAYLIST, key, name)
        if slot_type == "decade":
            start = pick(sorted(DECADES), key=lambda x: str(x))
            forms = DECADES[start]
            return SlotValue(forms[int(rng.integers(0, len(forms)))], value=(float(start), float(start + 9)))
        if slot_type == "year_before":
            year = int(rng.integers(1975, 2016))
            return SlotValue(str(year), value=(None, float(year - 1)))
        if slot_type == "year_after":
            year = int(rng.integers(1975, 2016))
            return SlotValue(str(year), value=(float(year + 1), None))
        if slot_type == "feature":
            surface = pick(sorted(FEATURES), key=lambda x: x)
            return SlotValue(surface, value=FEATURES[surface])
        if slot_type == "pop":
            surface = pick(sorted(POPULARITY), key=lambda x: x)
            return SlotValue(surface, value=POPULARITY[surface])
        if slot_type == "k":
            surface, n = COUNTS[int(rng.integers(0, len(COUNTS)))]
            return SlotValue(surface, value=n)
        raise ValueError(f"unknown slot type {slot_type!r}")


# --------------------------------------------------------------------------------------- render
def typo(name: str, rng: np.random.Generator, known: frozenset[str] = frozenset()) -> str:
    """``name`` with one character edit (swap, drop, double or keyboard neighbour) inside a word of >= 5 letters.

    The edit never touches a word's first letter and never yields another known name; a name without
    a long enough word comes back unchanged.
    """
    words = name.split(" ")
    long_words = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 5]
    if not long_words:
        return name
    for _ in range(20):
        wi = long_words[int(rng.integers(0, len(long_words)))]
        w = words[wi]
        pos = [i for i in range(1, len(w)) if w[i].isalpha()]
        i = pos[int(rng.integers(0, len(pos)))]
        op = int(rng.integers(0, 4))
        if op == 0 and i + 1 < len(w) and w[i + 1].isalpha() and w[i] != w[i + 1]:
            new = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        elif op == 1:
            new = w[:i] + w[i + 1:]
        elif op == 2:
            new = w[:i] + w[i] + w[i:]
        else:
            c = w[i].lower()
            rep = _NEIGHBOURS.get(c, c)
            new = w[:i] + (rep.upper() if w[i].isupper() else rep) + w[i + 1:]
        out = " ".join([*words[:wi], new, *words[wi + 1:]])
        if out != name and normalize_tag(out) not in known:
            return out
    return name


def render(template: str, values: Mapping[str, SlotValue], variant: str = "plain",
           rng: np.random.Generator | None = None, known: frozenset[str] = frozenset()) -> str:
    """The text of ``template`` with ``values`` filled in, in ``variant`` form (see the module docstring)."""
    surfaces = {name: v.surface for name, v in values.items()}
    if variant == "typo":
        rng = rng if rng is not None else np.random.default_rng(0)
        for name, v in values.items():
            if v.label in (Label.ARTIST, Label.SONG):
                edited = typo(v.surface, rng, known)
                if edited != v.surface:
                    surfaces[name] = edited
                    break

    def fill(m: re.Match[str]) -> str:
        name = m.group(1) + m.group(2)
        if m.group(3):
            return str(values[name].sub[m.group(3)])
        return surfaces[name]

    text = _SLOT.sub(fill, template)
    return text.lower() if variant == "lower" else text


def can_typo(values: Mapping[str, SlotValue]) -> bool:
    """Whether a ``typo`` variant can edit one of these values."""
    return any(v.label in (Label.ARTIST, Label.SONG) and typo(v.surface, np.random.default_rng(0)) != v.surface
               for v in values.values())


# ----------------------------------------------------------------------------------------- gold
def _one(value: Any, values: Mapping[str, SlotValue]) -> SlotValue | None:
    refs = _refs(value)
    return values[refs[0]] if refs else None


def gold_request(family: Family, values: Mapping[str, SlotValue], text: str | None = None) -> Request:
    """The structured request ``family`` means with ``values`` filled in."""
    g = family.gold
    data: dict[str, Any] = {"text": text, "kind": g["kind"]}
    k = g.get("k")
    if isinstance(k, int):
        data["k"] = k
    elif k is not None:
        data["k"] = int(values[_refs(k)[0]].value)
    seeds = []
    for s in g.get("seeds", []):
        v = values[str(s["slot"])]
        seeds.append({"label": v.label, "name": v.name, "key": v.key, "relation": s.get("relation")})
    data["seeds"] = seeds
    if "combine" in g:
        data["combine"] = g["combine"]
    c: dict[str, Any] = {}
    for name in ("tags", "genres", "moods"):
        if name in g:
            c[name] = [values[r].name for r in _refs(g[name])]
    for name in ("years", "popularity"):
        v = _one(g.get(name), values)
        if v is not None:
            c[name] = v.value if name == "years" else _POP_RANGES[v.value]
    if "features" in g:
        feats = {}
        for entry in g["features"]:
            refs = _refs(entry)
            name, direction = values[refs[0]].value if refs else str(entry).split(":", 1)
            feats[name] = _FEATURE_RANGES[(name, direction)]
        c["features"] = feats
    if "explicit" in g:
        c["explicit"] = bool(g["explicit"])
    if "exclude" in g:
        c["exclude"] = [{"label": values[r].label, "name": values[r].name, "key": values[r].key}
                        for r in _refs(g["exclude"])]
    data["constraints"] = c
    return parse_request(data)


def k_stated(family: Family) -> bool:
    return "k" in family.gold


# ---------------------------------------------------------------------------------- generation
@dataclass(slots=True)
class Item:
    """One benchmark request: its text and the gold structured request."""

    family: str
    group: str
    template: int
    variant: str
    text: str
    gold: Request
    k_stated: bool
    values: dict[str, SlotValue] = field(default_factory=dict)


def generate(families: Sequence[Family], pool: SlotPool, n_per_family: int = 16, seed: int = 0) -> list[Item]:
    """``n_per_family`` items per family: templates and variants in turn, slots drawn with ``seed``.

    The draw of family ``f`` depends only on ``seed`` and ``f``'s name, so adding a family file
    never changes the items of the others.
    """
    out: list[Item] = []
    for fam in families:
        rng = np.random.default_rng([seed, *fam.name.encode()])
        for j in range(n_per_family):
            values: dict[str, SlotValue] = {}
            for name in fam.slots():
                taken = {v.key or v.surface for v in values.values()}
                values[name] = pool.sample(_slot_type(name), rng, avoid=taken)
            t = j % len(fam.templates)
            variant = fam.variants[(j // len(fam.templates) + j) % len(fam.variants)]
            if variant == "typo" and not can_typo(values):
                variant = "lower" if "lower" in fam.variants else fam.variants[0]
            text = render(fam.templates[t], values, variant, rng, pool.known_names)
            out.append(Item(fam.name, fam.group, t, variant, text, gold_request(fam, values, text), k_stated(fam),
                            values))
    return out


# ------------------------------------------------------------------------------------- metrics
def _direction(rng: tuple[float | None, float | None]) -> str:
    lo, hi = rng
    if lo is not None and hi is not None:
        return "band"
    return "high" if lo is not None else "low"


def slot_sets(req: Request, *, k_stated: bool, entity_seeds: int | None = None) -> dict[str, frozenset]:
    """The comparison form of a request (see the module docstring); slots that do not apply are absent.

    Args:
        k_stated: whether the text states a count (else ``k`` is not compared).
        entity_seeds: the gold's number of entity seeds (``combine`` is compared when >= 2);
            None: this request's own.
    """
    kind = req.kind
    ent = [s for s in req.seeds if s.label in ENTITY_LABELS]
    out: dict[str, frozenset] = {"kind": frozenset({kind})}
    if k_stated:
        out["k"] = frozenset({req.k})
    out["seeds"] = frozenset((s.label, s.key or normalize_tag(s.name), s.effective_relation(kind).value) for s in ent)
    n_ent = len(ent) if entity_seeds is None else entity_seeds
    if n_ent >= 2:
        out["combine"] = frozenset({req.combine})
    c, t = req.constraints, req.targets
    tags = {normalize_tag(x) for x in (*c.tags, *c.genres)}
    if not ent:
        tags |= {s.key or normalize_tag(s.name) for s in req.seeds if s.label in (Label.TAG, Label.GENRE)
                 and s.effective_relation(kind) in (Relation.TAGGED, Relation.HAS_GENRE)}
    out["tags"] = frozenset(tags)
    out["moods"] = frozenset({normalize_tag(m) for m in (*c.moods, *t.moods)}
                             | {s.key or normalize_tag(s.name) for s in req.seeds if s.label == Label.MOOD})
    out["years"] = frozenset({tuple(c.years)}) if c.years else frozenset()
    hard = frozenset((f, _direction(r)) for f, r in c.features.items() if f != "year")
    soft = frozenset((f, _direction(r)) for f, r in t.features.items() if f != "year")
    out["features"] = hard | soft
    out[_SOFT_FEATURES] = soft - hard
    out["popularity"] = frozenset({_direction(c.popularity)}) if c.popularity else frozenset()
    out["explicit"] = frozenset({c.explicit}) if c.explicit is not None else frozenset()
    out["exclude"] = frozenset((e.label, e.key or normalize_tag(e.name)) for e in c.exclude)
    return out


@dataclass(slots=True)
class Judged:
    """One item's comparison: per slot (true positives, false positives, false negatives), exact match."""

    item: Item
    parsed: Request | None
    slots: dict[str, tuple[int, int, int]]
    exact: bool
    error: str | None = None


def judge(item: Item, parsed: Request | None, error: str | None = None) -> Judged:
    """Compare a parsed request with the item's gold (a failed parse matches nothing)."""
    n_ent = sum(1 for s in item.gold.seeds if s.label in ENTITY_LABELS)
    gold = slot_sets(item.gold, k_stated=item.k_stated, entity_seeds=n_ent)
    got = slot_sets(parsed, k_stated=item.k_stated, entity_seeds=n_ent) if parsed is not None else {}
    slots = {}
    soft = got.get(_SOFT_FEATURES, frozenset())
    for name, g in gold.items():
        if name == _SOFT_FEATURES:
            continue
        p = got.get(name, frozenset())
        fp = p - g
        if name == "features":
            fp -= soft  # a soft target excludes nothing (a mood word's profile is no error)
        slots[name] = (len(g & p), len(fp), len(g - p))
    exact = parsed is not None and all(fp == 0 and fn == 0 for _, fp, fn in slots.values())
    return Judged(item, parsed, slots, exact, error)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 (1.0 when there is nothing to find and nothing was found)."""
    p = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    r = tp / (tp + fn) if tp + fn else (1.0 if fp == 0 else 0.0)
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(judged: Sequence[Judged]) -> dict[str, Any]:
    """Exact match and micro-averaged per-slot precision / recall / F1 of ``judged``."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for j in judged:
        for name, (tp, fp, fn) in j.slots.items():
            t = totals[name]
            t[0] += tp
            t[1] += fp
            t[2] += fn
    per_slot = {}
    for name in SLOT_NAMES:
        if name in totals:
            p, r, f = prf(*totals[name])
            per_slot[name] = {"precision": p, "recall": r, "f1": f, "tp": totals[name][0], "fp": totals[name][1],
                              "fn": totals[name][2]}
    exact = np.array([1.0 if j.exact else 0.0 for j in judged])
    return {"n": len(judged), "exact_match": float(exact.mean()) if len(exact) else 0.0,
            "errors": sum(1 for j in judged if j.error), "slots": per_slot,
            "mean_slot_f1": float(np.mean([v["f1"] for v in per_slot.values()])) if per_slot else 0.0}


def parse_all(parser: Any, items: Sequence[Item]) -> list[Judged]:
    """Parse every item's text with ``parser.parse`` and judge it (an exception is a failed parse)."""
    from musicgraph.errors import MusicgraphError

    out = []
    for it in items:
        try:
            out.append(judge(it, parser.parse(it.text)))
        except (MusicgraphError, ValueError) as exc:
            out.append(judge(it, None, f"{type(exc).__name__}: {exc}"))
    return out


def describe_values(values: Mapping[str, SlotValue]) -> dict[str, str]:
    """A JSON-friendly view of filled slots (for reports)."""
    return {k: (f"{v.label}:{v.key}" if v.label else f"{v.surface} -> {v.value}") for k, v in values.items()}
