"""Grounded answers written by the fine-tuned SmolLM2 (``musicgraph ask --backend lm``).

**Input.** The request and a compact evidence block, one line per candidate built from the same
:class:`~musicgraph.rag.context.Context` the other backends get::

    Request: melancholic songs for a rainy night, like Radiohead
    Evidence:
    [1] Muse - Unintended (1999) | mood: sad | sound: low energy, sad-sounding, acoustic | link: fans of Radiohead
    ...
    Answer:

**Target** (:func:`target_answer`). An opening sentence that ties the picks to the request (it reuses
the request's words and, when most picks share one, a mood, sound, era or link), then one line per
song that cites it by evidence number and gives one reason taken from its evidence line::

    These five fit melancholic songs for a rainy night, like Radiohead; most are sad.
    [1] has a sad mood and low energy.
    Try [3], played by fans of Radiohead.

The sentence frames are drawn at random from several per fact type, so the model does not learn
one template. Training pairs (:func:`make_pairs`) come from requests composed over the graph's moods,
situations, genres, eras and artists, answered by the real retriever with the real evidence; the
requests of ``benchmarks/bench_rag.py`` are excluded.

**Decoding** (:class:`LMGenerator`). Greedy, with :class:`~musicgraph.lm.trie.PointerConstraint`:
after ``[`` only an evidence number and ``]`` can follow, and outside pointers only the prompt's
tokens and the tokens of the training answers can be written, so a song reference is either a
pointer or a name copied from the evidence. Pointers are then expanded to ``"Title" by Artist [n]``.
Speed: the adapter is merged, linear layers run as dynamic int8 (when torch has it), the output
projection covers only the allowed tokens, and prompt-lookup decoding proposes copied n-grams.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.rag.base import Generator, GeneratorError

if TYPE_CHECKING:
    from musicgraph.graph.results import ExplanationPath as GPath
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.context import CandidateEvidence, Context
    from musicgraph.retrieval.base import Retriever

log = logging.getLogger(__name__)

TASK = "answer"
MAX_PROMPT = 360
MAX_TARGET = 128
VOCAB_FILE = "answer_vocab.json"

# ------------------------------------------------------------------------------- the prompt
_USER = re.compile(r"^(last\.fm )?user \d+$", re.I)


def link_phrase(path: GPath) -> str | None:
    """A short phrase for a candidate's strongest graph path (``fans of Radiohead``, ``tag trip-hop``,
    ``similar to Portishead``); None for a path that only restates a mood, genre or the artist."""
    rels = [r.removeprefix("<-") for r in path.rels]
    seed = path.names[0]
    first = path.nodes[0].label
    if first == "Tag":
        return f"tag {seed}"
    if first in ("Mood", "Genre"):
        return None
    if "LISTENED_TO" in rels and first == "Artist":
        return f"fans of {seed}"
    if "SIMILAR_TO" in rels:
        return f"similar to {seed}"
    if rels and rels[0] == "TAGGED":
        return f"tag {path.names[1]}"
    if "IN_PLAYLIST" in rels:
        mid = next((n for n, node in zip(path.names, path.nodes, strict=False) if node.label == "Playlist"), None)
        return f"playlist {mid}" if mid else None
    if "MEMBER_OF" in rels:
        return f"member link to {seed}"
    if path.nodes[0].label == "Artist" and len(path.nodes) > 2:
        return f"linked to {seed}"
    return None


@dataclass(slots=True)
class Facts:
    """What the evidence line of one candidate states (and the target may use)."""

    number: int
    heading: str
    moods: list[str] = field(default_factory=list)
    sound: list[str] = field(default_factory=list)
    year: int | None = None
    genre: str | None = None
    tags: list[str] = field(default_factory=list)
    link: str | None = None
    title_words: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, cand: CandidateEvidence) -> Facts:
        link = None
        for p in cand.result.paths[:2]:
            link = link_phrase(p)
            if link:
                break
        sound = [s for s in cand.sound if not s.endswith("BPM")][:3]
        words = [m[7:-1] for m in cand.matches if m.startswith("title '") and m.endswith("'")][:2]
        return cls(cand.number, cand.heading(), [m.lower() for m in cand.moods[:2]], sound, cand.year,
                   cand.genres[0] if cand.genres else None, [t for t in cand.tags[:2] if t], link, words)  # fmt: skip

    def line(self) -> str:
        parts = [f"[{self.number}] {self.heading}"]
        if self.moods:
            parts.append("mood: " + ", ".join(self.moods))
        if self.sound:
            parts.append("sound: " + ", ".join(self.sound))
        if self.genre:
            parts.append(f"genre: {self.genre}")
        if self.tags:
            parts.append("tags: " + ", ".join(self.tags))
        if self.link:
            parts.append(f"link: {self.link}")
        if self.title_words:
            parts.append("title has: " + ", ".join(self.title_words))
        return " | ".join(parts)


def render_prompt(request: str, facts: Sequence[Facts]) -> str:
    """The model input for ``request`` and the candidates' facts."""
    lines = [f"Request: {request.strip()}", "Evidence:", *[f.line() for f in facts], "Answer:"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- the target
_NUM = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
_FILLER = re.compile(r"^(?:please\s+)?(?:play me|play|give me|i need|i want|recommend|find me|find|some|any)\s+", re.I)


def request_core(request: str) -> str:
    """The request without a leading verb or filler ("play me sad songs" -> "sad songs")."""
    text = request.strip().rstrip(".!?")
    for _ in range(2):
        text = _FILLER.sub("", text)
    return text[0].lower() + text[1:] if text and not text[:2].isupper() else text


def _shared(facts: Sequence[Facts]) -> str | None:
    """A property most picks share, phrased for the opening sentence."""
    n = len(facts)
    moods = Counter(m for f in facts for m in f.moods[:1])
    sound = Counter(s for f in facts for s in f.sound if "energy" in s or s in ("acoustic", "danceable", "instrumental"))
    links = Counter(f.link for f in facts if f.link)
    decades = Counter(f"{f.year // 10 * 10}s" for f in facts if f.year)
    options = []
    for counter, phrase in ((moods, "{x}"), (sound, "{x}"), (links, "{x}"), (decades, "from the {x}")):
        if counter:
            x, c = counter.most_common(1)[0]
            if c >= max(2, (n + 1) // 2 + (n > 3)):
                options.append((c, phrase.format(x=x)))
    if not options:
        return None
    c, what = max(options)
    if what.startswith(("fans of", "similar to", "tag ", "playlist ", "linked to")):
        lead = "all" if c == n else "most"
        return f"{lead} come with a link to {what.split(' ', 2)[-1]}" if what.startswith("linked") else \
            f"{lead} are {'liked by ' + what if what.startswith('fans') else what}"
    return f"{'all' if c == n else 'most'} are {what}"


_OPENERS = (
    "Here are {n} picks for {core}.",
    "For {core}, these {n} songs fit.",
    "These {n} songs suit {core}.",
    "{N} songs for {core}.",
    "If you want {core}, try these {n}.",
    "Picks for {core}:",
)
_OPENERS_SHARED = (
    "Here are {n} picks for {core}; {shared}.",
    "For {core}, these {n} fit: {shared}.",
    "{N} songs for {core}, and {shared}.",
    "These {n} suit {core}; {shared}.",
)


def _reason(f: Facts, rng: random.Random, wanted_moods: set[str]) -> str:
    """One sentence about candidate ``f`` built from one or two of its facts."""
    p = f"[{f.number}]"
    options: list[str] = []
    mood = next((m for m in f.moods if m in wanted_moods), f.moods[0] if f.moods else None)
    s = f.sound
    if mood and s:
        options += [f"{p} has a {mood} mood and {s[0]}.", f"{p}: {mood} mood, {', '.join(s[:2])}.",
                    f"{p} is a {mood} song, {s[0]}."]  # fmt: skip
    if mood:
        options += [f"{p} has a {mood} mood.", f"Try {p} for its {mood} mood."]
    if len(s) >= 2:
        options += [f"{p} is {s[0]} and {s[1]}.", f"{p} sounds {s[0]}, {s[1]}.", f"Try {p}: {', '.join(s[:3])}."]
    elif s:
        options += [f"{p} is {s[0]}."]
    if f.link:
        link = f.link
        if link.startswith("fans of"):
            options += [f"{p} is played by {link}.", f"Fans of {link[8:]} also play {p}."]
        else:
            options += [f"{p}: {link}.", f"{p} comes via {link}."]
    if f.year and (s or mood):
        options += [f"{p} ({f.year}) is {s[0] if s else mood + ' in mood'}.", f"From {f.year}, {p} is {s[0] if s else mood}."]
    elif f.year:
        options += [f"{p} is from {f.year}."]
    if f.genre:
        options += [f"{p} brings {f.genre}" + (f" with {s[0]}." if s else "."), f"{p} is {f.genre}."]
    if f.tags:
        options += [f"{p} is tagged {f.tags[0]}.", f"Listeners tag {p} as {f.tags[0]}."]
    if f.title_words:
        w = f.title_words[0]
        options += [f"{p} has '{w}' in its title.", f"The title of {p} says '{w}'."]
    if not options:
        options = [f"{p} matches the request.", f"{p} was retrieved for the request."]
    return rng.choice(options)


def target_answer(request: str, facts: Sequence[Facts], rng: random.Random, wanted_moods: Iterable[str] = ()) -> str:
    """The training answer for ``request`` over ``facts`` (pointer form; see the module docstring)."""
    if not facts:
        return "Nothing in the catalog matches this request."
    n = len(facts)
    core = request_core(request)
    shared = _shared(facts)
    frame = rng.choice(_OPENERS_SHARED if shared and rng.random() < 0.7 else _OPENERS)
    opener = frame.format(n=_NUM.get(n, str(n)), N=_NUM.get(n, str(n)).capitalize(), core=core, shared=shared or "")
    wanted = set(wanted_moods)
    return "\n".join([opener, *[_reason(f, rng, wanted) for f in facts]])


_POINTER = re.compile(r"\[(\d{1,2})\]")


def expand_pointers(text: str, facts_by_number: dict[int, Any]) -> tuple[str, list[int]]:
    """``[n]`` -> ``"Title" by Artist [n]``; returns the text and the numbers cited in order (a
    pointer to a number not in the evidence, impossible under the constraint, drops its line)."""
    cited: list[int] = []
    lines = []
    for line in text.splitlines():
        nums = [int(x) for x in _POINTER.findall(line)]
        if any(x not in facts_by_number for x in nums):
            continue
        for x in nums:
            if x not in cited:
                cited.append(x)

        def name(m: re.Match[str]) -> str:
            cand = facts_by_number[int(m.group(1))]
            res = cand.result
            if res.kind == "song" and res.artist:
                return f'"{res.title or res.name}" by {res.artist} [{m.group(1)}]'
            return f"{res.display()} [{m.group(1)}]"

        lines.append(_POINTER.sub(name, line))
    return "\n".join(lines), cited


# ------------------------------------------------------------------------------- training pairs
#: mood words of the training requests -> the mood label they ask for
MOOD_WORDS: dict[str, str] = {
    "sad": "sad", "melancholic": "sad", "gloomy": "sad", "heartbroken": "sad", "bittersweet": "sad",
    "happy": "happy", "cheerful": "happy", "sunny": "happy", "feel-good": "happy", "joyful": "happy",
    "calm": "calm", "peaceful": "calm", "gentle": "calm", "quiet": "calm",
    "relaxed": "relaxed", "chill": "relaxed", "mellow": "relaxed", "laid-back": "relaxed",
    "energetic": "energetic", "upbeat": "energetic", "high-energy": "energetic", "pumped": "energetic",
    "angry": "angry", "aggressive": "angry", "furious": "angry", "intense": "angry",
}  # fmt: skip
SITUATIONS: tuple[str, ...] = (
    "for a rainy afternoon", "for late-night driving", "for cooking dinner", "for a long run", "for a house party",
    "to fall asleep to", "for reading", "for a breakup", "for the morning commute", "for a beach day",
    "for cleaning the flat", "for a first date", "for coding", "for a winter evening", "for lifting weights",
)  # fmt: skip
ERAS: tuple[str, ...] = ("60s", "70s", "80s", "90s", "2000s", "2010s")
_REQUEST_FRAMES: tuple[str, ...] = (
    "{mood} songs {situation}", "{mood} music like {artist}", "something {mood} {situation}",
    "play me {mood} {genre}", "{era} {genre} songs", "songs {situation}, like {artist}",
    "I need {mood} music {situation}", "{mood} {era} tracks", "music similar to {artist} {situation}",
    "{genre} for fans of {artist}", "give me {mood} songs in the style of {artist}", "{mood} {genre} tracks",
    "{era} songs like {artist}", "recommend {genre} {situation}", "{mood} songs but no {artist}",
)  # fmt: skip


@dataclass(slots=True)
class AnswerPair:
    """One training pair with the request's slots (for the report)."""

    request: str
    prompt: str
    target: str
    moods: list[str]


def compose_requests(
    artists: Sequence[str], genres: Sequence[str], n: int, seed: int = 13, exclude: Iterable[str] = ()
) -> list[tuple[str, list[str]]]:
    """``n`` distinct requests ``(text, moods asked for)`` over the given names (see the frames above)."""
    rng = random.Random(seed)
    banned = {x.strip().lower() for x in exclude}
    out: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        frame = rng.choice(_REQUEST_FRAMES)
        mood = rng.choice(list(MOOD_WORDS))
        text = frame.format(mood=mood, situation=rng.choice(SITUATIONS), artist=rng.choice(artists) if artists else "",
                            genre=rng.choice(genres) if genres else "rock", era=rng.choice(ERAS))  # fmt: skip
        text = " ".join(text.split())
        if text.lower() in banned or text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append((text, [MOOD_WORDS[mood]] if "{mood}" in frame else []))
    return out


def make_pairs(
    store: GraphStore,
    retriever: Retriever,
    n: int = 1000,
    seed: int = 13,
    exclude: Iterable[str] = (),
    progress: bool = True,
) -> list[AnswerPair]:
    """Training pairs: composed requests answered by ``retriever`` with the real evidence.

    Args:
        store: the graph store (artists, genres and the evidence details).
        retriever: a :class:`musicgraph.retrieval.base.Retriever` (hybrid retrieval in production);
            each request is parsed by it and searched with ``k=20``.
        n: pairs wanted; requests that retrieve fewer than 3 songs are skipped.
        exclude: request texts never used (the benchmark's requests).

    Raises:
        ValueError: the store has no artists with songs.
    """
    from tqdm import tqdm

    from musicgraph.rag.ask import refine_results
    from musicgraph.rag.context import build_context

    rng = random.Random(seed)
    songs_per_artist: Counter[str] = Counter()
    for e in store.iter_edges("PERFORMED_BY"):
        songs_per_artist[e.dst.key] += 1
    names = {n.key: n.name for n in store.iter_nodes("Artist")}
    artists = [names[a] for a, _ in songs_per_artist.most_common(400) if a in names]
    genre_count: Counter[str] = Counter()
    for e in store.iter_edges("HAS_GENRE"):
        if e.src.label == "Song":
            genre_count[e.dst.key] += 1
    genres = [g for g, c in genre_count.most_common(60) if c >= 10]
    if not artists:
        raise ValueError(f"store {store!r} has no artists with songs to build answer requests from")
    requests = compose_requests(artists, genres, int(n * 1.3) + 10, seed, exclude)
    pairs: list[AnswerPair] = []
    bar = tqdm(total=n, desc="answer pairs", disable=not progress, unit="pair")
    for text, moods in requests:
        if len(pairs) >= n:
            break
        k = rng.choice((3, 4, 5, 5, 5))
        try:
            raw = retriever.search(text, k=20)
        except (ValueError, LookupError):  # a request the retriever cannot answer (RequestError, unknown names)
            continue
        results = refine_results(raw, k, store=store)
        if len(results) < 3:
            continue
        ctx = build_context(results, store=store, budget=4096, query=text)
        facts = [Facts.of(c) for c in ctx.candidates]
        pairs.append(AnswerPair(text, render_prompt(text, facts), target_answer(text, facts, rng, moods), moods))
        bar.update(1)
    bar.close()
    return pairs


def answer_vocab(tokenizer: Any, targets: Iterable[str]) -> list[int]:
    """Token ids the training answers use (plus digits and brackets): the decoding vocabulary
    outside the prompt's own tokens."""
    ids: set[int] = set()
    for t in targets:
        ids.update(tokenizer(t, add_special_tokens=False)["input_ids"])
        ids.update(tokenizer("\n" + t, add_special_tokens=False)["input_ids"])
    for piece in [*"0123456789", "[", " [", "]", "].", "]:", "],", "\n"]:
        ids.update(tokenizer(piece, add_special_tokens=False)["input_ids"])
    return sorted(ids)


# ------------------------------------------------------------------------------- the generator
def restricted_head(weight: Any, allowed: Any, vocab_size: int) -> Any:
    """An output projection over the ``allowed`` token ids only (every other logit is -inf).

    Decoding one token of SmolLM2 projects onto 49,152 rows; the constrained answer can only use a
    few thousand, so projecting onto those alone gives the same constrained argmax for less work.
    """
    import torch

    class RestrictedHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("index", allowed)
            self.register_buffer("sub", weight.detach()[allowed].to(torch.float32).contiguous())

        def forward(self, hidden: Any) -> Any:
            out = torch.full((*hidden.shape[:-1], vocab_size), float("-inf"), dtype=torch.float32)
            out[..., self.index] = hidden.to(torch.float32) @ self.sub.T
            return out

    return RestrictedHead()


def _quantize(model: Any) -> tuple[Any, bool]:
    """Dynamic int8 linear layers (x86 fbgemm) when this torch has them; the model unchanged otherwise."""
    import warnings

    import torch

    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError:
        return model, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = model.model
            model.model = quantize_dynamic(layers, {torch.nn.Linear}, dtype=torch.qint8)
        return model, True
    except (RuntimeError, AssertionError) as exc:
        log.info("int8 quantization unavailable (%s); running float32", exc)
        return model, False


class LMGenerator(Generator):
    """The ``lm`` backend: SmolLM2 with the answer adapter (see the module docstring).

    Args:
        directory: the task folder written by ``musicgraph lm train --task answer``
            (default ``MUSICGRAPH_HOME/models/lm-answer``).
        quantize: run the linear layers as dynamic int8 (faster on CPU).
        lookup: prompt-lookup tokens per step (0: plain greedy decoding, the default: the answers
            copy few long n-grams from the prompt, and rejected proposals made decoding slower).
        base_dir: the base model folder (default: the cached SmolLM2).

    Raises:
        GeneratorError: no trained adapter in ``directory``.
    """

    name = "lm"
    max_input_tokens = 4096  # every retrieved candidate enters the context; the prompt is compact

    @classmethod
    def load(cls, model: str | Path | None = None, settings: Any = None) -> LMGenerator:
        return cls(model)

    @classmethod
    def available(cls, settings: Any = None) -> bool:
        return lm_available(settings)

    def __init__(self, directory: str | Path | None = None, quantize: bool = True, lookup: int = 0,
                 max_new_tokens: int = MAX_TARGET, base_dir: Path | None = None):  # fmt: skip
        from musicgraph.lm.lora import load_adapted

        folder = Path(directory) if directory is not None else task_dir(TASK)
        if not (folder / "adapter" / "adapter_config.json").is_file():
            raise GeneratorError(
                f"no trained answer model in {folder}; train it with `musicgraph lm train --task answer`"
            )
        t0 = time.perf_counter()
        self.model, self.tokenizer = load_adapted(folder / "adapter", base_dir=base_dir)
        vocab_file = folder / VOCAB_FILE
        self.vocab: list[int] = json.loads(vocab_file.read_text()) if vocab_file.is_file() else []
        self.quantized = False
        if quantize:
            self.model, self.quantized = _quantize(self.model)
        self.lookup = lookup
        self.max_new_tokens = max_new_tokens
        self.folder = folder
        self.load_seconds = time.perf_counter() - t0
        log.info("loaded the lm answer model from %s in %.1fs (int8: %s)", folder, self.load_seconds, self.quantized)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(self, request: str, context: Context) -> str:
        """The compact prompt (at most :data:`MAX_PROMPT` tokens: lower-ranked lines are dropped)."""
        facts = [Facts.of(c) for c in context.candidates]
        text = render_prompt(request, facts)
        while len(facts) > 1 and self.count_tokens(text) > MAX_PROMPT:
            facts = facts[:-1]
            text = render_prompt(request, facts)
        return text

    def raw_generate(self, request: str, context: Context, *, strict: bool = False) -> tuple[str, int]:
        """The model's pointer-form text and the prompt length in tokens."""
        import torch
        from transformers import LogitsProcessorList

        from musicgraph.lm.trie import PointerConstraint

        prompt = self.prompt(request, context)
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        ids = enc["input_ids"]
        prompt_ids = set(ids[0].tolist())
        numbers = [c.number for c in context.candidates if f"[{c.number}]" in prompt]
        if strict:  # copy-only: the prompt's tokens plus digits, brackets and punctuation
            extra = [i for i in self.vocab if not self.tokenizer.decode([i]).strip().isalpha()]
            vocab = prompt_ids | set(extra)
        else:
            vocab = prompt_ids | set(self.vocab)
        eos = self.tokenizer.eos_token_id
        vocab.add(eos)
        constraint = PointerConstraint(self.tokenizer, numbers, ids.shape[1], vocab)
        allowed = torch.tensor(sorted(vocab | set(constraint._closes.tolist())), dtype=torch.long)
        head = self.model.lm_head
        restricted = restricted_head(head.weight, allowed, head.weight.shape[0])
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": False, "pad_token_id": eos,
                                  "logits_processor": LogitsProcessorList([constraint])}  # fmt: skip
        if self.lookup:
            kwargs["prompt_lookup_num_tokens"] = self.lookup
        self.model.lm_head = restricted
        try:
            with torch.no_grad():
                out = self.model.generate(ids, attention_mask=enc["attention_mask"], **kwargs)
        finally:
            self.model.lm_head = head
        return str(self.tokenizer.decode(out[0][ids.shape[1] :], skip_special_tokens=True)).strip(), ids.shape[1]

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        text, _ = self.raw_generate(request, context, strict=strict)
        expanded, _cited = expand_pointers(text, {c.number: c for c in context.candidates})
        return expanded


def task_dir(task: str, settings: Any = None) -> Path:
    """``MUSICGRAPH_HOME/models/lm-<task>``: where ``musicgraph lm train --task TASK`` saves."""
    from musicgraph.config import get_settings

    return (settings or get_settings()).models_dir / f"lm-{task}"


def lm_available(settings: Any = None) -> bool:
    """Whether the answer adapter has been trained and ``peft`` is installed (the ``lm`` backend can load)."""
    import importlib.util

    return ((task_dir(TASK, settings) / "adapter" / "adapter_config.json").is_file()
            and importlib.util.find_spec("peft") is not None)
