"""An adversarial answer set for grounding judges: clean answers and answers with one planted error.

Built on real evidence (a request and its retrieved candidates). Every context yields clean answers
in several styles (the template's ``Artist - Title`` lines, the lm backend's ``"Title" by Artist
[n]``, prose with lower-case names, ``Artist's Title`` list items, facts stated correctly) and
corrupted copies, each with exactly one error of a known kind:

==================  =====================================================================
``invented-quoted``   a quoted title the catalog does not know, by a real evidence artist
``invented-lower``    an invented song and band in lower case ("try glass harbour by the velvet foxes")
``invented-plain``    an invented name made of ordinary words ("Quiet Night Song is perfect …")
``invented-word``     one invented capitalised word at a sentence start ("Zorvane is a great pick.")
``invented-artist``   an invented artist ("… sounds like the Velvet Foxes")
``wrong-artist``      a real catalog title credited to a real artist who did not record it
``not-retrieved``     a real song with its real artist that is not among the candidates
``wrong-year``        a cited song with a year it is not from
``wrong-mood``        a cited song with a mood opposite to its stored mood labels
``wrong-feature``     a cited song called high energy when it is low energy (or the reverse)
==================  =====================================================================

Two phrasing families exist: ``dev`` (used while building the judge) and ``test`` (written with
other cue words and sentence frames, reported as the held-out figure). Invented names are checked
against the catalog, so none of them exists.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from musicgraph.lm.judge import MOOD_LEXICON, OPPOSITE, JudgeCatalog, SongFacts, norm

if TYPE_CHECKING:
    from musicgraph.graph.results import Result

KINDS: tuple[str, ...] = ("invented-quoted", "invented-lower", "invented-plain", "invented-word", "invented-artist",
                          "wrong-artist", "not-retrieved", "wrong-year", "wrong-mood", "wrong-feature")  # fmt: skip

_ADJ = ("Velvet", "Glass", "Silver", "Hollow", "Crimson", "Paper", "Neon", "Quiet", "Amber", "Broken", "Lunar",
        "Golden", "Midnight", "Distant", "Electric", "Wandering", "Frozen", "Gentle", "Restless", "Faded")  # fmt: skip
_NOUN = ("Harbour", "Foxes", "Lanterns", "Orchard", "Tides", "Echoes", "Compass", "Sparrows", "Static", "Meadow",
         "Rivers", "Satellites", "Mirrors", "Embers", "Gardens", "Pilots", "Canyons", "Letters", "Houses", "Waves")  # fmt: skip
_PLAIN = ("Quiet Night Song", "Soft Rain Melody", "Slow Morning Light", "Warm Summer Evening", "Long Drive Home",
          "Sad Piano Dreams", "Calm Blue Water", "Happy Little Day", "Late Night Feeling", "Gentle Sunday Tune",
          "Lonely Road Ballad", "Bright Party Lights", "Deep Sleep Sounds", "Cold Winter Heart")  # fmt: skip
_WORDS = ("Zorvane", "Kelmira", "Tavros", "Quellin", "Brimora", "Ostravel", "Vennix", "Marlune", "Drovik", "Selanthe")


@dataclass(slots=True)
class AdversarialAnswer:
    """One answer of the set; ``kind`` is ``clean`` or the planted error (see the module docstring)."""

    request: str
    candidates: list[Result]
    text: str
    kind: str
    family: str
    style: str = ""
    planted: str = ""

    @property
    def bad(self) -> bool:
        return self.kind != "clean"


@dataclass(slots=True)
class _Ctx:
    request: str
    cands: list[Result]
    facts: list[SongFacts]
    seed_artist: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _reason(f: SongFacts) -> str:
    """A true reason from stored facts (mood label, energy, year), or a neutral one."""
    if f.moods:
        return f"a {sorted(f.moods)[0]} mood"
    e = f.features.get("energy")
    if e is not None and e <= 0.4:
        return "low energy"
    if e is not None and e >= 0.7:
        return "high energy"
    return "a good fit for the request"


def _clean(ctx: _Ctx, family: str, rng: random.Random) -> list[tuple[str, str]]:
    """Clean answers ``(style, text)`` written from the candidates' true facts."""
    fs = ctx.facts
    head = f'Picks for "{ctx.request}":' if family == "dev" else f"Here is what fits {ctx.request}."
    out = []
    lines = [head] + [f"{i}. {f.artist} - {f.title}" + (f" ({f.year})" if f.year else "") + f": {_reason(f)}."
                      for i, f in enumerate(fs, start=1)]  # fmt: skip
    out.append(("template", "\n".join(lines)))
    lines = [f"These {len(fs)} suit {ctx.request}."] + [f'"{f.title}" by {f.artist} [{i}] has {_reason(f)}.'
                                                          for i, f in enumerate(fs, start=1)]  # fmt: skip
    out.append(("pointer", "\n".join(lines)))
    if family == "dev":
        parts = [f"try {f.title.lower()} by {f.artist.lower()} for {_reason(f)}" for f in fs[:3]]
        out.append(("prose-lower", "For this request, " + "; ".join(parts) + "."))
        out.append(("possessive", "\n".join(f"- {f.artist}'s {f.title}: {_reason(f)}" for f in fs)))
    else:
        parts = [f"{f.title} by {f.artist} brings {_reason(f)}" for f in fs[:3]]
        out.append(("prose", "Start with these. " + ". ".join(parts) + "."))
        out.append(("dash-list", "\n".join(f"* {f.title} — {f.artist}, with {_reason(f)}" for f in fs)))
    dated = [f for f in fs if f.year]
    if dated:
        f = dated[0]
        i = fs.index(f) + 1
        decade = f"{f.year // 10 * 10 % 100:02d}s"
        txt = (f'"{f.title}" by {f.artist} [{i}] is from {f.year}, a song of the {decade}.' if family == "dev"
               else f"Released in {f.year}, {f.title} by {f.artist} fits well.")  # fmt: skip
        out.append(("facts", txt))
    if ctx.seed_artist:
        out.append(("request-artist", f"If you like {ctx.seed_artist}, these are close: "
                    + ", ".join(f'"{f.title}" by {f.artist}' for f in fs[:3]) + "."))  # fmt: skip
    return out


def _invented_title(cat: JudgeCatalog, rng: random.Random) -> str:
    return _invented(cat, rng, "", "title")


def _invented_band(cat: JudgeCatalog, rng: random.Random) -> str:
    return _invented(cat, rng, "The ", "band")


def _invented(cat: JudgeCatalog, rng: random.Random, prefix: str, what: str) -> str:
    """``prefix`` + an adjective and a noun that name no title and no artist of the catalog."""
    for _ in range(100):
        t = f"{prefix}{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if norm(t) not in cat.titles.exact and norm(t) not in cat.artists.exact:
            return t
    raise RuntimeError(f"could not invent a {what} absent from the catalog")


def _plant(kind: str, ctx: _Ctx, base: str, family: str, cat: JudgeCatalog, rng: random.Random,
           others: Sequence[SongFacts]) -> tuple[str, str] | None:  # fmt: skip
    """``(text, planted span)`` with one error of ``kind`` added to ``base`` (None: not possible here)."""
    fs = ctx.facts
    f = rng.choice(fs)
    dev = family == "dev"
    if kind == "invented-quoted":
        t = _invented_title(cat, rng)
        line = f'You could also try "{t}" by {f.artist}.' if dev else f'Another one: "{t}" from {f.artist}, same mood.'
        return base + "\n" + line, t
    if kind == "invented-lower":
        t, b = _invented_title(cat, rng).lower(), _invented_band(cat, rng).lower()
        line = f"also try {t} by {b} for a similar feel." if dev else f"and don't miss {t} by {b}, it fits."
        return base + "\n" + line, t
    if kind == "invented-plain":
        t = rng.choice([x for x in _PLAIN if norm(x) not in cat.titles.exact])
        line = f"{t} is perfect for this too." if dev else f"- {t}: a calm pick with low energy"
        return base + "\n" + line, t
    if kind == "invented-word":
        w = rng.choice([x for x in _WORDS if norm(x) not in cat.artists.exact and norm(x) not in cat.titles.exact])
        line = f"{w} is another great pick here." if dev else f"{w} would also work well tonight."
        return base + "\n" + line, w
    if kind == "invented-artist":
        b = _invented_band(cat, rng)
        line = (f'"{f.title}" by {f.artist} sounds like {b}.' if dev
                else f"For fans of {b}, {f.title} by {f.artist} is the one.")  # fmt: skip
        return base + "\n" + line, b
    if kind == "wrong-artist":
        for _ in range(50):
            o = rng.choice(others)
            wrong = rng.choice(others)
            if wrong.artist and norm(wrong.artist) != norm(o.artist) and o.key not in {x.key for x in fs}:
                if not cat.song_artist_ok(o, wrong.artist) and not any(
                        cat.song_artist_ok(cat.songs[k], wrong.artist) for _, k in cat.titles.find(o.title)):
                    line = f'Also good: "{o.title}" by {wrong.artist}.' if dev else f"{o.title} by {wrong.artist} belongs here too."
                    return base + "\n" + line, f"{o.title} / {wrong.artist}"
        return None
    if kind == "not-retrieved":
        for _ in range(50):
            o = rng.choice(others)
            if o.key not in {x.key for x in fs} and o.artist and len(o.title) > 3:
                line = f'You might also like "{o.title}" by {o.artist}.' if dev else f"Put on {o.title} by {o.artist} as well."
                return base + "\n" + line, o.title
        return None
    if kind == "wrong-year":
        dated = [x for x in fs if x.year]
        if not dated:
            return None
        x = rng.choice(dated)
        wrong = x.year + rng.choice((-14, -9, -6, 6, 9, 13))
        i = fs.index(x) + 1
        line = f'"{x.title}" by {x.artist} [{i}] came out in {wrong}.' if dev else f"{x.title} by {x.artist} ({wrong}) opens the set."
        return base + "\n" + line, str(wrong)
    if kind == "wrong-mood":
        labelled = [x for x in fs if x.moods]
        if not labelled:
            return None
        x = rng.choice(labelled)
        bad = [m for m in ("happy", "sad", "calm", "energetic", "angry") if m not in x.moods
               and any(m in OPPOSITE.get(y, set()) for y in x.moods)]  # fmt: skip
        if not bad:
            return None
        m = rng.choice(bad)
        word = rng.choice([w for w, c in MOOD_LEXICON.items() if c == m and " " not in w])
        i = fs.index(x) + 1
        line = f'"{x.title}" by {x.artist} [{i}] has a {word} mood.' if dev else f"{x.title} by {x.artist} is a {word} song."
        return base + "\n" + line, word
    if kind == "wrong-feature":
        for x in fs:
            e = x.features.get("energy")
            if e is not None and (e <= 0.35 or e >= 0.75):
                claim = "high energy" if e <= 0.35 else "low energy"
                i = fs.index(x) + 1
                line = f'"{x.title}" by {x.artist} [{i}] is {claim}.' if dev else f"{x.title} by {x.artist} keeps it {claim}."
                return base + "\n" + line, claim
        return None
    raise ValueError(f"unknown kind {kind!r}")


def build_set(
    contexts: Sequence[tuple[str, Sequence[Result]]],
    catalog: JudgeCatalog,
    family: str = "test",
    seed: int = 7,
    per_kind: int = 1,
) -> list[AdversarialAnswer]:
    """Clean and corrupted answers over ``contexts`` (request, candidates in evidence order).

    Args:
        contexts: real evidence, e.g. retrieval results for benchmark requests.
        catalog: the judge's catalog (stored facts, and the names invented ones must avoid).
        family: ``dev`` or ``test`` phrasings.
        per_kind: corrupted answers per error kind and context (where the kind applies).

    Raises:
        ValueError: unknown family.
    """
    if family not in ("dev", "test"):
        raise ValueError(f"family must be dev or test, got {family!r}")
    rng = random.Random(f"{seed}:{family}")
    others = [s for s in catalog.songs.values() if s.artist and s.title]
    out: list[AdversarialAnswer] = []
    for request, cands in contexts:
        facts = [catalog.songs[r.id] for r in cands if r.id in catalog.songs]
        if len(facts) < 3:
            continue
        seeds = [p.names[0] for r in cands for p in r.paths if p.nodes and p.nodes[0].label == "Artist"]
        ctx = _Ctx(request, [r for r in cands if r.id in catalog.songs], facts, seeds[0] if seeds else None)
        clean = _clean(ctx, family, rng)
        for style, text in clean:
            out.append(AdversarialAnswer(request, ctx.cands, text, "clean", family, style))
        for kind in KINDS:
            for _ in range(per_kind):
                style, base = rng.choice(clean[:3])
                planted = _plant(kind, ctx, base, family, catalog, rng, others)
                if planted is not None:
                    out.append(AdversarialAnswer(request, ctx.cands, planted[0], kind, family, style, planted[1]))
    return out


def score(answers: Sequence[AdversarialAnswer], flagged: Sequence[bool]) -> dict[str, Any]:
    """Precision, recall and F1 of flagging the corrupted answers, recall per planted kind and the
    false-positive rate per clean style."""
    tp = sum(1 for a, f in zip(answers, flagged, strict=True) if a.bad and f)
    fp = sum(1 for a, f in zip(answers, flagged, strict=True) if not a.bad and f)
    fn = sum(1 for a, f in zip(answers, flagged, strict=True) if a.bad and not f)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    per_kind: dict[str, list[int]] = {}
    per_style: dict[str, list[int]] = {}
    for a, f in zip(answers, flagged, strict=True):
        if a.bad:
            per_kind.setdefault(a.kind, []).append(int(f))
        else:
            per_style.setdefault(a.style, []).append(int(f))
    return {
        "answers": len(answers), "corrupted": tp + fn, "clean": len(answers) - tp - fn,
        "precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "recall_by_kind": {k: round(sum(v) / len(v), 4) for k, v in sorted(per_kind.items())},
        "n_by_kind": {k: len(v) for k, v in sorted(per_kind.items())},
        "false_positive_rate_by_style": {k: round(sum(v) / len(v), 4) for k, v in sorted(per_style.items())},
    }  # fmt: skip
