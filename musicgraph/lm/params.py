"""Request parameters: SmolLM2 maps a request to moods, feature targets with weights, and filters.

The model writes one line of slots, e.g. for "chill acoustic songs from the 90s like Bonobo, no Coldplay"::

    moods=relaxed; energy~low; acousticness=high; year=1990s; like=Bonobo; no=Coldplay

``=`` marks a feature the request states ("acoustic"), ``~`` one implied by a mood or activity
word ("chill" → low energy). :func:`parse_slots` turns the line into a plain dict that either
request parser can take (:func:`lexicon_params` and :func:`request_params` write the same dict
from the rule parsers' output; :func:`params_request` turns it into a request)::

    {"moods": ["relaxed"], "exclude_moods": [],
     "features": {"energy": {"level": "low", "target": 0.25, "range": [None, 0.4], "weight": 0.5},
                  "acousticness": {"level": "high", "target": 0.8, "range": [0.6, None], "weight": 1.0}},
     "filters": {"year": [1990, 1999], "exclude_artists": ["Coldplay"]},
     "seeds": ["Bonobo"], "genres": []}

Training requests are composed from slot phrases (:data:`MOOD_WORDS`, :data:`ACTIVITIES`,
:data:`SOUNDS`, eras, artists, genres, exclusions) in sentence frames; the gold slots come from the
composition, not from any parser. Frames are split into families: the ``held_out`` families
(other sentence shapes, lower case, question forms) are never trained on. Decoding is greedy with
the vocabulary restricted to the slot grammar's tokens plus the request's own tokens, so names can
only be copied from the request.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore
    from musicgraph.lm.train import TaskConfig

log = logging.getLogger(__name__)

TASK = "params"
PROMPT = "Request: {text}\nParameters:"
VOCAB_FILE = "params_vocab.json"

#: word -> (mood, implied features {feature: level})
MOOD_WORDS: dict[str, tuple[str, dict[str, str]]] = {
    "sad": ("sad", {"valence": "low"}), "melancholic": ("sad", {"valence": "low"}), "gloomy": ("sad", {"valence": "low"}),
    "heartbroken": ("sad", {"valence": "low"}), "happy": ("happy", {"valence": "high"}),
    "cheerful": ("happy", {"valence": "high"}), "joyful": ("happy", {"valence": "high"}),
    "upbeat": ("happy", {"valence": "high", "energy": "high"}), "angry": ("angry", {"energy": "high", "valence": "low"}),
    "aggressive": ("angry", {"energy": "high"}), "furious": ("angry", {"energy": "high"}),
    "calm": ("calm", {"energy": "low"}), "peaceful": ("calm", {"energy": "low"}), "relaxing": ("relaxed", {"energy": "low"}),
    "chill": ("relaxed", {"energy": "low"}), "mellow": ("relaxed", {"energy": "low"}),
    "energetic": ("energetic", {"energy": "high"}), "hype": ("energetic", {"energy": "high"}),
}  # fmt: skip
#: activity phrase -> (mood, implied features)
ACTIVITIES: dict[str, tuple[str, dict[str, str]]] = {
    "working out": ("energetic", {"energy": "high", "tempo": "high"}), "the gym": ("energetic", {"energy": "high", "tempo": "high"}),
    "running": ("energetic", {"energy": "high", "tempo": "high"}), "studying": ("calm", {"energy": "low"}),
    "sleeping": ("calm", {"energy": "low"}), "a party": ("happy", {"danceability": "high", "energy": "high"}),
    "a rainy night": ("sad", {"valence": "low", "energy": "low"}), "a road trip": ("happy", {"energy": "high"}),
}  # fmt: skip
#: sound phrase -> stated features (and whether it is also a filter)
SOUNDS: dict[str, dict[str, str]] = {
    "acoustic": {"acousticness": "high"}, "instrumental": {"instrumentalness": "high"},
    "no vocals": {"instrumentalness": "high"}, "without lyrics": {"instrumentalness": "high"},
    "fast": {"tempo": "high"}, "slow": {"tempo": "low"}, "danceable": {"danceability": "high"},
    "quiet": {"energy": "low"}, "loud": {"energy": "high"}, "popular": {"popularity": "high"},
    "obscure": {"popularity": "low"}, "high energy": {"energy": "high"}, "low energy": {"energy": "low"},
}  # fmt: skip
ERAS: dict[str, int] = {"60s": 1960, "70s": 1970, "80s": 1980, "90s": 1990, "2000s": 2000, "2010s": 2010,
                        "sixties": 1960, "seventies": 1970, "eighties": 1980, "nineties": 1990}  # fmt: skip
LEVELS: dict[str, tuple[float, list[float | None]]] = {"low": (0.25, [None, 0.4]), "medium": (0.5, [0.35, 0.65]),
                                                       "high": (0.8, [0.6, None])}  # fmt: skip
TEMPO_LEVELS: dict[str, tuple[float, list[float | None]]] = {"low": (85.0, [None, 100.0]), "high": (130.0, [120.0, None])}
POP_LEVELS: dict[str, tuple[float, list[float | None]]] = {"low": (25.0, [None, 40.0]), "high": (75.0, [60.0, None])}

# families: (name, held out, frames). {m} mood word, {a} activity, {s} sound, {e} era, {x} artist, {g} genre, {n} excluded artist
FAMILIES: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    ("mood", False, ("{m} songs", "some {m} music", "play something {m}", "{m} tracks please")),
    ("mood+activity", False, ("{m} music for {a}", "songs for {a}", "I need music for {a}")),
    ("sound", False, ("{s} songs", "{m} {s} music", "something {s} and {m}")),
    ("era", False, ("songs from the {e}", "{e} {g}", "{m} {e} songs")),
    ("like", False, ("songs like {x}", "{m} music like {x}", "music similar to {x} for {a}")),
    ("exclude", False, ("{m} songs but no {n}", "{g} without {n}", "music like {x}, no {n}")),
    ("genre", False, ("{g} music", "{m} {g}", "{s} {g} from the {e}")),
    ("combo", False, ("{m} {s} {g} like {x}", "{s} songs from the {e} for {a}")),
    # held out: other sentence shapes, never trained on
    ("question", True, ("can you find me {m} songs like {x}?", "what should I play for {a}?", "got any {s} {g}?")),
    ("long", True, ("i'm in the mood for something {m} and {s}, maybe from the {e}",
                    "looking for {g} that would fit {a}, just not {n}")),
    ("terse-lower", True, ("{m} {e} {g} no {n}", "{s} + {m} for {a}")),
)  # fmt: skip


@dataclass(slots=True)
class ParamsExample:
    """A request and its gold slot line."""

    text: str
    target: str
    family: str
    held_out: bool


def _slot_line(moods: list[str], stated: dict[str, str], implied: dict[str, str], era: int | None,
               like: list[str], no: list[str], genres: list[str], no_moods: list[str]) -> str:  # fmt: skip
    parts = []
    if moods:
        parts.append("moods=" + ",".join(moods))
    if no_moods:
        parts.append("no_moods=" + ",".join(no_moods))
    for f, lv in stated.items():
        parts.append(f"{f}={lv}")
    for f, lv in implied.items():
        if f not in stated:
            parts.append(f"{f}~{lv}")
    if era is not None:
        parts.append(f"year={era}s")
    for g in genres:
        parts.append(f"genre={g}")
    for x in like:
        parts.append(f"like={x}")
    for x in no:
        parts.append(f"no={x}")
    return "; ".join(parts) if parts else "none"


def compose(frame: str, rng: random.Random, artists: Sequence[str], genres: Sequence[str]) -> tuple[str, str]:
    """A request from ``frame`` and its gold slot line."""
    moods: list[str] = []
    implied: dict[str, str] = {}
    stated: dict[str, str] = {}
    values: dict[str, str] = {}
    era = None
    like: list[str] = []
    no: list[str] = []
    gs: list[str] = []
    if "{m}" in frame:
        w = rng.choice(list(MOOD_WORDS))
        mood, feats = MOOD_WORDS[w]
        moods.append(mood)
        implied.update(feats)
        values["m"] = w
    if "{a}" in frame:
        w = rng.choice(list(ACTIVITIES))
        mood, feats = ACTIVITIES[w]
        if mood not in moods:
            moods.append(mood)
        for f, lv in feats.items():
            implied.setdefault(f, lv)
        values["a"] = w
    if "{s}" in frame:
        w = rng.choice(list(SOUNDS))
        stated.update(SOUNDS[w])
        values["s"] = w
    if "{e}" in frame:
        w = rng.choice(list(ERAS))
        era = ERAS[w]
        values["e"] = w
    if "{x}" in frame:
        x = rng.choice(artists)
        like.append(x)
        values["x"] = x
    if "{n}" in frame:
        n = rng.choice([a for a in artists if a not in like])
        no.append(n)
        values["n"] = n
    if "{g}" in frame:
        g = rng.choice(genres)
        gs.append(g)
        values["g"] = g
    text = frame.format(**values)
    return text, _slot_line(moods, stated, implied, era, like, no, gs, [])


def make_examples(artists: Sequence[str], genres: Sequence[str], n: int, seed: int = 13,
                  exclude: Iterable[str] = ()) -> list[ParamsExample]:  # fmt: skip
    """``n`` examples over every family (held-out families included, flagged)."""
    rng = random.Random(seed)
    banned = {x.lower() for x in exclude}
    out, seen = [], set()
    frames = [(fam, held, fr) for fam, held, frs in FAMILIES for fr in frs]
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        fam, held, frame = rng.choice(frames)
        text, target = compose(frame, rng, artists, genres)
        text = " ".join(text.split())
        if text.lower() in banned or text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append(ParamsExample(text, target, fam, held))
    return out


# ------------------------------------------------------------------------------- parsing the line
_SLOT = re.compile(r"\s*([a-z_]+)\s*([=~])\s*(.+?)\s*$")
FEATURE_NAMES = frozenset({"energy", "valence", "danceability", "acousticness", "instrumentalness", "tempo",
                           "popularity", "speechiness", "loudness"})  # fmt: skip
MOODS = frozenset({"sad", "happy", "angry", "calm", "relaxed", "energetic"})


def parse_slots(line: str) -> dict[str, Any]:
    """The plain parameter dict of a slot line (unknown or malformed slots are dropped)."""
    out: dict[str, Any] = {"moods": [], "exclude_moods": [], "features": {}, "filters": {}, "seeds": [], "genres": []}
    for part in line.split(";"):
        m = _SLOT.match(part)
        if not m:
            continue
        key, op, value = m.groups()
        if key == "moods":
            out["moods"] += [v.strip() for v in value.split(",") if v.strip() in MOODS and v.strip() not in out["moods"]]
        elif key == "no_moods":
            out["exclude_moods"] += [v.strip() for v in value.split(",") if v.strip() in MOODS]
        elif key in FEATURE_NAMES and value in ("low", "medium", "high"):
            table = TEMPO_LEVELS if key == "tempo" else POP_LEVELS if key == "popularity" else LEVELS
            target, rng = table.get(value, LEVELS[value])
            if key in out["features"] and op == "~":
                continue
            out["features"][key] = {"level": value, "target": target, "range": list(rng),
                                    "weight": 1.0 if op == "=" else 0.5}  # fmt: skip
            if key == "instrumentalness" and op == "=" and value == "high":
                out["filters"]["instrumentalness"] = [0.5, None]
        elif key == "year":
            d = re.match(r"(\d{4})s$", value)
            if d:
                out["filters"]["year"] = [int(d.group(1)), int(d.group(1)) + 9]
        elif key == "genre":
            out["genres"].append(value)
        elif key == "like":
            out["seeds"].append(value)
        elif key == "no":
            out["filters"].setdefault("exclude_artists", []).append(value)
    return out


def slots_of(params: dict[str, Any]) -> dict[str, set[str]]:
    """Comparable slot sets of a parameter dict: moods, excluded moods, stated features (name=level),
    era, seeds, excluded artists, genres (names folded)."""
    def fold(x: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", x.lower()).split())

    feats = params.get("features", {})
    year = params.get("filters", {}).get("year")
    return {
        "moods": set(params.get("moods", [])),
        "exclude_moods": set(params.get("exclude_moods", [])),
        "features": {f"{k}={v['level']}" for k, v in feats.items() if v.get("weight", 1.0) >= 1.0},
        "year": {f"{int(year[0]) // 10 * 10}s"} if year and year[0] is not None else set(),
        "seeds": {fold(s) for s in params.get("seeds", [])},
        "exclude": {fold(s) for s in params.get("filters", {}).get("exclude_artists", [])},
        "genres": {fold(g) for g in params.get("genres", [])},
    }


def lexicon_params(parsed: Any) -> dict[str, Any]:
    """A :class:`~musicgraph.retrieval.query.ParsedQuery` of the old lexicon parser as the plain dict
    (features said by sound words are *stated*, those from mood/activity words *implied*)."""
    from musicgraph.retrieval.query import LEXICON

    out: dict[str, Any] = {"moods": list(parsed.moods), "exclude_moods": list(parsed.exclude_moods), "features": {},
                           "filters": {}, "seeds": [], "genres": []}  # fmt: skip
    for feat, (lo, hi) in parsed.features.items():
        if feat == "year":
            continue
        reason = parsed.reasons.get(feat, "")
        implied = bool(LEXICON.get(reason, ((), {}))[0])
        out["features"][feat] = {"level": _level(lo, hi), "range": [lo, hi], "weight": 0.5 if implied else 1.0}
    year = parsed.filters.get("year") or parsed.features.get("year")
    if year:
        out["filters"]["year"] = [year[0], year[1]]
    _add_seeds(out, parsed.seeds, parsed.exclude)
    return out


def _level(lo: float | None, hi: float | None) -> str:
    return "high" if lo is not None and hi is None else "low" if hi is not None and lo is None else "medium"


def request_params(req: Any) -> dict[str, Any]:
    """A :class:`~musicgraph.retrieval.request.Request` (e.g. of
    :class:`~musicgraph.retrieval.parser.RequestParser`) as the plain parameter dict: hard feature
    constraints are *stated* (weight 1), soft targets *implied* (weight 0.5); artist seeds are the
    like-artists; tags, genres and tag/genre seeds are the genres."""
    c, t = req.constraints, req.targets
    out: dict[str, Any] = {"moods": [], "exclude_moods": list(t.avoid_moods), "features": {}, "filters": {},
                           "seeds": [], "genres": [*c.genres, *c.tags]}  # fmt: skip
    for m in (*c.moods, *t.moods, *(s.name for s in req.seeds if s.label == "Mood")):
        if m not in out["moods"]:
            out["moods"].append(m)
    for feats, weight in ((t.features, 0.5), (c.features, 1.0)):
        for feat, rng in feats.items():
            if feat != "year":
                lo, hi = rng
                out["features"][feat] = {"level": _level(lo, hi), "range": [lo, hi], "weight": weight}
    if c.popularity:
        lo, hi = c.popularity
        out["features"]["popularity"] = {"level": _level(lo, hi), "range": [lo, hi], "weight": 1.0}
    if c.years:
        out["filters"]["year"] = [c.years[0], c.years[1]]
    _add_seeds(out, req.seeds, c.exclude)
    return out


def _add_seeds(out: dict[str, Any], seeds: Iterable[Any], exclude: Iterable[Any]) -> None:
    """Artist seeds are the like-artists, genre and tag seeds genres, excluded artists a filter."""
    for s in seeds:
        if s.label == "Artist":
            out["seeds"].append(s.name)
        elif s.label in ("Genre", "Tag"):
            out["genres"].append(s.name)
    for e in exclude:
        if e.label == "Artist":
            out["filters"].setdefault("exclude_artists", []).append(e.name)


def params_request(params: dict[str, Any], text: str, k: int = 10) -> Any:
    """The :class:`~musicgraph.retrieval.request.Request` a parameter dict means, so the model can
    stand in for the request parser: moods and implied features are soft targets, stated features,
    era, genres and exclusions are constraints, like-artists are ``similar_to`` seeds (keyed by
    name; a name the catalog lacks fails at search time like any unknown seed)."""
    from musicgraph.graph.resolve import artist_key
    from musicgraph.retrieval.request import Request

    hard: dict[str, list[float | None]] = {}
    soft: dict[str, list[float | None]] = {}
    popularity = None
    for feat, f in params["features"].items():
        if feat == "popularity":
            popularity = f["range"]
        else:
            (hard if f.get("weight", 1.0) >= 1.0 else soft)[feat] = f["range"]
    filters = params["filters"]
    for feat, rng in filters.items():
        if feat not in ("year", "exclude_artists"):
            hard[feat] = rng
    constraints: dict[str, Any] = {"features": hard, "genres": list(params["genres"]),
                                   "exclude": [{"label": "Artist", "name": a, "key": artist_key(a)}
                                               for a in filters.get("exclude_artists", [])]}  # fmt: skip
    if "year" in filters:
        constraints["years"] = list(filters["year"])
    if popularity is not None:
        constraints["popularity"] = popularity
    seeds = [{"label": "Artist", "name": a, "key": artist_key(a), "relation": "similar_to"} for a in params["seeds"]]
    return Request.model_validate({"text": text, "k": k, "seeds": seeds, "constraints": constraints, "parser": "lm-params",
                                   "targets": {"moods": list(params["moods"]), "features": soft,
                                               "avoid_moods": list(params["exclude_moods"])}})  # fmt: skip


def slot_scores(gold: Sequence[dict[str, Any]], pred: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-slot precision/recall/F1 (micro over requests) and request exact match."""
    names = ["moods", "exclude_moods", "features", "year", "seeds", "exclude", "genres"]
    tp = dict.fromkeys(names, 0)
    fp = dict.fromkeys(names, 0)
    fn = dict.fromkeys(names, 0)
    exact = 0
    for g, p in zip(gold, pred, strict=True):
        gs, ps = slots_of(g), slots_of(p)
        same = True
        for n in names:
            tp[n] += len(gs[n] & ps[n])
            fp[n] += len(ps[n] - gs[n])
            fn[n] += len(gs[n] - ps[n])
            same &= gs[n] == ps[n]
        exact += same
    out: dict[str, Any] = {"requests": len(gold), "exact_match": round(exact / max(1, len(gold)), 4), "slots": {}}
    for n in names:
        if tp[n] + fn[n] == 0 and fp[n] == 0:
            continue
        p = tp[n] / (tp[n] + fp[n]) if tp[n] + fp[n] else 0.0
        r = tp[n] / (tp[n] + fn[n]) if tp[n] + fn[n] else 0.0
        out["slots"][n] = {"f1": round(2 * p * r / (p + r), 4) if p + r else 0.0, "precision": round(p, 4),
                           "recall": round(r, 4), "gold": tp[n] + fn[n]}  # fmt: skip
    return out


# ------------------------------------------------------------------------------- training and the parser
def catalog_names(store: GraphStore, artists: int = 300, genres: int = 40) -> tuple[list[str], list[str]]:
    """Popular artist names (most songs) and genre names of ``store``, for composing requests."""
    from collections import Counter

    songs: Counter[str] = Counter()
    for e in store.iter_edges("PERFORMED_BY"):
        songs[e.dst.key] += 1
    names = {n.key: n.name for n in store.iter_nodes("Artist")}
    gcount: Counter[str] = Counter()
    for e in store.iter_edges("HAS_GENRE"):
        gcount[e.dst.key] += 1
    gnames = {n.key: n.name for n in store.iter_nodes("Genre")}
    a = [names[k] for k, _ in songs.most_common(artists * 2) if k in names][:artists]
    g = [gnames[k] for k, _ in gcount.most_common(genres) if k in gnames and len(gnames[k]) < 20]
    if not a or not g:
        raise ValueError(f"store {store!r} has no artists or genres to compose requests from")
    return a, g


def split_names(names: Sequence[str], seed: int = 13) -> tuple[list[str], list[str]]:
    """Names for training and names only ever seen in evaluation requests (every fifth, shuffled)."""
    order = list(names)
    random.Random(seed).shuffle(order)
    held = order[::5]
    return [x for x in order if x not in set(held)], held


def train_params(
    store: GraphStore, out: Path, cfg: TaskConfig, *, exclude: Sequence[str] = (), base_dir: Path | None = None,
    progress: bool = True, resume: bool = False,
) -> dict[str, Any]:
    """Compose requests, keep the held-out families and names out, LoRA-SFT the slot writer."""
    from musicgraph.lm.answer import answer_vocab
    from musicgraph.lm.train import sft_text_task

    t0 = time.perf_counter()
    artists, genres = catalog_names(store)
    train_artists, _ = split_names(artists, cfg.train.seed)
    examples = [e for e in make_examples(train_artists, genres, cfg.examples * 2, cfg.train.seed, exclude) if not e.held_out]
    examples = examples[: cfg.examples]
    pairs = [(PROMPT.format(text=e.text) + " ", e.target) for e in examples]

    def extra(tok: Any, folder: Path) -> dict[str, Any]:
        vocab = answer_vocab(tok, [t for _, t in pairs])
        (folder / VOCAB_FILE).write_text(json.dumps(vocab))
        return {"vocab_tokens": len(vocab), "families": sorted({e.family for e in examples}),
                "data_seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip

    return sft_text_task(TASK, pairs, out, cfg, base_dir=base_dir, progress=progress, resume=resume,
                         extra_files=extra, max_prompt=96, max_target=64)  # fmt: skip


class ParamsModel:
    """The trained slot writer: ``parse(request) -> dict`` (see the module docstring).

    ``quantize=True`` runs the linear layers as dynamic int8: faster, but it broke the slot lines of
    the trained model (repeated ``no=…`` slots; exact match 0.01–0.02 against ~float), so it is off.

    Raises:
        FileNotFoundError: the model has not been trained.
    """

    name = "lm-params"

    def __init__(self, directory: Path | None = None, base_dir: Path | None = None, quantize: bool = False):
        from musicgraph.lm.answer import _quantize, task_dir
        from musicgraph.lm.lora import load_adapted

        folder = directory or task_dir(TASK)
        if not (folder / "adapter" / "adapter_config.json").is_file():
            raise FileNotFoundError(f"no params model in {folder}: run `musicgraph lm train --task params`")
        self.model, self.tokenizer = load_adapted(folder / "adapter", base_dir=base_dir)
        if quantize:
            self.model, _ = _quantize(self.model)
        self.vocab = set(json.loads((folder / VOCAB_FILE).read_text()))

    def line(self, text: str, max_new_tokens: int = 64) -> str:
        """The generated slot line for ``text``."""
        import torch

        from musicgraph.lm.trie import PointerConstraint

        prompt = PROMPT.format(text=text.strip()) + " "
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        ids = enc["input_ids"]
        vocab = self.vocab | set(ids[0].tolist()) | {self.tokenizer.eos_token_id}
        constraint = PointerConstraint(self.tokenizer, [], ids.shape[1], vocab)  # no pointers: a vocabulary mask
        from transformers import LogitsProcessorList

        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=enc["attention_mask"], max_new_tokens=max_new_tokens,
                                      do_sample=False, pad_token_id=self.tokenizer.eos_token_id,
                                      logits_processor=LogitsProcessorList([constraint]))  # fmt: skip
        lines = str(self.tokenizer.decode(out[0][ids.shape[1] :], skip_special_tokens=True)).strip().splitlines()
        return lines[0] if lines else ""

    def parse(self, text: str) -> dict[str, Any]:
        """The parameter dict of ``text``.

        Raises:
            ValueError: empty request.
        """
        if not text or not text.strip():
            raise ValueError("empty request: describe the music you want")
        return parse_slots(self.line(text))

    def parse_request(self, text: str) -> Any:
        """``text`` as a :class:`~musicgraph.retrieval.request.Request` (the request-parser interface).

        Raises:
            ValueError: empty request.
        """
        return params_request(self.parse(text), text)
