"""The own small T5: trained on (request + evidence → answer) pairs generated from the graph itself.

No T5/BART weights ship on PyPI, so ``musicgraph rag finetune`` builds a small T5 from a
:class:`~transformers.T5Config` (or fine-tunes a local pretrained seq2seq model given with
``--base``) and saves it with its tokenizer under ``MUSICGRAPH_HOME/models/t5-local``; the offline
default backend uses it when present.

Training pairs (:func:`make_pairs`): requests from templates over the graph's moods (MoodyLyrics,
Spotify mood labels), genres, artist tags and artists ("sad songs", "songs like Portishead",
"melancholic trip-hop"), candidates the graph links to them (with the linking path), the evidence
block built exactly as at answer time, and as target the template answer (without paths) in
*pointer* form: each song is written as its evidence number (``1. [2]: sad mood; low energy.``),
which :class:`T5LocalGenerator` expands to ``Artist - Title (year)``. The model thus chooses and
orders candidates and words the reasons, but never spells a name: a form of constrained decoding
that makes invented titles impossible by construction (a pointer to a number not in the evidence
drops its line).

What it learns: the answer format, which candidates to list, and copying each candidate's mood and
sound words from the evidence. What it does not: world knowledge, taste or reasoning beyond the
evidence; with the default size and minutes of CPU training its reasons are often incomplete or
attached to the wrong candidate (measured by the faithfulness figure of ``benchmarks/bench_rag.py``),
and when nothing grounded is left the template answer is used (``Answer.fallback``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.graph.results import ExplanationPath, Result
from musicgraph.graph.schema import NodeRef
from musicgraph.rag.context import build_context
from musicgraph.rag.seq2seq import Seq2SeqGenerator, format_prompt
from musicgraph.rag.template import expand_pointers, template_answer

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.context import Context

log = logging.getLogger(__name__)

MAX_INPUT = 384
MAX_TARGET = 192

REQUEST_TEMPLATES: dict[str, tuple[str, ...]] = {
    "mood": ("{x} songs", "something {x}", "play me {x} music", "I feel {x}, what should I listen to?",
             "songs that sound {x}", "recommend {x} tracks"),
    "genre": ("{x} songs", "recommend some {x}", "good {x} tracks", "I want to hear {x}"),
    "tag": ("{x} music", "songs tagged {x}", "something {x} please", "{x} tracks for tonight"),
    "artist": ("songs like {x}", "more like {x}", "music similar to {x}", "if I like {x}, what else?"),
    "mood+artist": ("{m} songs like {x}", "{m} music similar to {x}"),
}  # fmt: skip


@dataclass(slots=True)
class FinetuneConfig:
    """Size and schedule of the local T5 (the defaults train in a few minutes on 2 CPU cores)."""

    pairs: int = 1200
    d_model: int = 128
    d_ff: int = 384
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 3000
    epochs: int = 3
    batch_size: int = 16
    lr: float = 2e-3
    max_k: int = 5  # candidates per training pair (1..max_k)
    max_minutes: float = 8.0
    context_budget: int = 224  # evidence tokens per training pair (shorter inputs train faster)
    threads: int = 0  # torch CPU threads; 0 = all cores, or 1 when the machine is already busy
    seed: int = 13
    base: str | None = None  # a local pretrained seq2seq model to fine-tune instead
    eval_samples: int = 10  # held-out pairs decoded for the ROUGE-L figure


class _GraphIndex:
    """Song facts and links read once from the store for pair generation."""

    def __init__(self, store: GraphStore):
        self.songs = {n.key: n for n in store.iter_nodes("Song")}
        self.artists = {n.key: n.name for n in store.iter_nodes("Artist")}
        self.by_mood: dict[str, list[str]] = defaultdict(list)
        self.by_genre: dict[str, list[str]] = defaultdict(list)
        self.by_artist: dict[str, list[str]] = defaultdict(list)
        self.artist_tags: dict[str, list[str]] = defaultdict(list)
        self.tag_artists: dict[str, list[str]] = defaultdict(list)
        self.song_moods: dict[str, list[str]] = defaultdict(list)
        self.song_genres: dict[str, list[str]] = defaultdict(list)
        names = {label: {n.key: n.name for n in store.iter_nodes(label)} for label in ("Mood", "Genre", "Tag")}
        for e in store.iter_edges("HAS_MOOD"):
            if e.src.label == "Song" and e.src.key in self.songs:
                mood = names["Mood"].get(e.dst.key, e.dst.key)
                self.by_mood[mood].append(e.src.key)
                self.song_moods[e.src.key].append(mood)
        for e in store.iter_edges("HAS_GENRE"):
            if e.src.label == "Song" and e.src.key in self.songs:
                genre = names["Genre"].get(e.dst.key, e.dst.key)
                self.by_genre[genre].append(e.src.key)
                self.song_genres[e.src.key].append(genre)
        for e in store.iter_edges("PERFORMED_BY"):
            if e.src.key in self.songs and (e.props.get("role") in (None, "main")):
                self.by_artist[e.dst.key].append(e.src.key)
        for e in store.iter_edges("TAGGED"):
            if e.src.label == "Artist" and e.src.key in self.by_artist:
                tag = names["Tag"].get(e.dst.key, e.dst.key)
                self.artist_tags[e.src.key].append(tag)
                self.tag_artists[tag].append(e.src.key)
        self.tags = [t for t, a in self.tag_artists.items() if len(a) >= 3]
        self.moods = [m for m, s in self.by_mood.items() if len(s) >= 3]
        self.genres = [g for g, s in self.by_genre.items() if len(s) >= 3]
        self.tagged_artists = [a for a in self.artist_tags if len(self.artist_tags[a]) >= 1]

    def result(self, key: str, rank: int, path: ExplanationPath | None) -> Result:
        node = self.songs[key]
        artist = str(node.props.get("artist") or "")
        return Result(
            rank=rank, kind="song", id=key, name=node.name, score=1.0 / rank, artist=artist, title=node.name,
            paths=[path] if path else [], props=dict(node.props),
            evidence={"moods": self.song_moods.get(key, [])[:3], "genres": self.song_genres.get(key, [])[:3]},
        )  # fmt: skip

    def song_path(self, label: str, key: str, name: str, rel: str, song: str) -> ExplanationPath:
        return ExplanationPath([NodeRef(label, key), NodeRef("Song", song)], [name, self.songs[song].name], [rel])


def make_pairs(
    store: GraphStore, n: int = 1200, seed: int = 13, max_k: int = 5, budget: int = MAX_INPUT - 40
) -> list[tuple[str, str]]:
    """``n`` (model input, target answer) pairs generated from ``store`` (see the module docstring).

    Raises:
        ValueError: the store has too little linked data to build requests from.
    """
    rng = random.Random(seed)
    g = _GraphIndex(store)
    kinds = [k for k, ok in (("mood", g.moods), ("genre", g.genres), ("tag", g.tags),
                             ("artist", g.tagged_artists), ("mood+artist", g.moods and g.tagged_artists)) if ok]  # fmt: skip
    if not kinds:
        raise ValueError(f"store {store!r} has no moods, genres or tagged artists to build training requests from")
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < n and attempts < n * 5:
        attempts += 1
        kind = rng.choice(kinds)
        k = rng.randint(1, max_k)
        template = rng.choice(REQUEST_TEMPLATES[kind])
        picked: list[tuple[str, ExplanationPath | None]] = []
        if kind == "mood":
            mood = rng.choice(g.moods)
            request = template.format(x=mood)
            songs = rng.sample(g.by_mood[mood], min(k, len(g.by_mood[mood])))
            picked = [(s, g.song_path("Mood", mood, mood, "<-HAS_MOOD", s)) for s in songs]
        elif kind == "genre":
            genre = rng.choice(g.genres)
            request = template.format(x=genre)
            songs = rng.sample(g.by_genre[genre], min(k, len(g.by_genre[genre])))
            picked = [(s, g.song_path("Genre", genre, genre, "<-HAS_GENRE", s)) for s in songs]
        elif kind == "tag":
            tag = rng.choice(g.tags)
            request = template.format(x=tag)
            for a in rng.sample(g.tag_artists[tag], min(k, len(g.tag_artists[tag]))):
                s = rng.choice(g.by_artist[a])
                path = ExplanationPath([NodeRef("Tag", tag), NodeRef("Artist", a), NodeRef("Song", s)],
                             [tag, g.artists.get(a, a), g.songs[s].name], ["<-TAGGED", "<-PERFORMED_BY"])  # fmt: skip
                picked.append((s, path))
        else:
            seed_artist = rng.choice(g.tagged_artists)
            tag = rng.choice(g.artist_tags[seed_artist])
            others = [a for a in g.tag_artists[tag] if a != seed_artist]
            if not others:
                continue
            name = g.artists.get(seed_artist, seed_artist)
            for a in rng.sample(others, min(k, len(others))):
                s = rng.choice(g.by_artist[a])
                path = ExplanationPath(
                    [NodeRef("Artist", seed_artist), NodeRef("Tag", tag), NodeRef("Artist", a), NodeRef("Song", s)],
                    [name, tag, g.artists.get(a, a), g.songs[s].name], ["TAGGED", "<-TAGGED", "<-PERFORMED_BY"],
                )  # fmt: skip
                picked.append((s, path))
            moods = [m for s, _ in picked for m in g.song_moods.get(s, [])]
            if kind == "mood+artist" and not moods:
                continue
            request = template.format(x=name, m=moods[0] if moods else "")
        if not picked:
            continue
        results = [g.result(s, i, p) for i, (s, p) in enumerate(picked, start=1)]
        ctx = build_context(results, budget=budget, query=request)
        source = format_prompt(request, ctx)
        pairs.append((source, template_answer(request, ctx, with_paths=False, pointers=True)))
    log.info("generated %d training pairs (%d attempts)", len(pairs), attempts)
    return pairs


def _auto_threads() -> int:
    """All cores, or one when the load average already exceeds the cores (oversubscribed BLAS
    threads were 4x slower than one thread in that case)."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= cores
    except OSError:
        busy = False
    return 1 if busy else cores


def _train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=["<pad>", "</s>", "<unk>"])
    eos = bpe.token_to_id("</s>")
    bpe.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    tok.model_max_length = MAX_INPUT
    return tok


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of whitespace tokens (longest common subsequence)."""
    a, b = candidate.lower().split(), reference.lower().split()
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def finetune(
    store: GraphStore,
    out_dir: str | Path,
    config: FinetuneConfig | None = None,
    progress: bool = True,
    log_fn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate pairs from ``store``, train the small T5 and save it (model, tokenizer,
    ``training_info.json``) to ``out_dir``. Returns the training info.

    Raises:
        ValueError: too little data in the store; GeneratorError: ``config.base`` cannot be loaded.
    """
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = config or FinetuneConfig()
    out = Path(out_dir)
    say = log_fn or log.info
    torch.manual_seed(cfg.seed)
    threads = cfg.threads or _auto_threads()
    torch.set_num_threads(threads)
    rng = random.Random(cfg.seed)
    t0 = time.perf_counter()
    pairs = make_pairs(store, cfg.pairs, cfg.seed, max_k=cfg.max_k, budget=cfg.context_budget)
    rng.shuffle(pairs)
    n_eval = max(1, min(50, len(pairs) // 20))
    eval_pairs, train_pairs = pairs[:n_eval], pairs[n_eval:]
    say(f"{len(train_pairs)} training pairs, {len(eval_pairs)} held out ({time.perf_counter() - t0:.1f}s)")
    if cfg.base:
        base = Seq2SeqGenerator(cfg.base)
        tok, model = base.tokenizer, base.model
        model.train()
    else:
        tok = _train_tokenizer([s for p in train_pairs for s in p], cfg.vocab_size)
        t5 = T5Config(
            vocab_size=len(tok), d_model=cfg.d_model, d_kv=max(8, cfg.d_model // cfg.num_heads), d_ff=cfg.d_ff,
            num_layers=cfg.num_layers, num_decoder_layers=cfg.num_layers, num_heads=cfg.num_heads,
            dropout_rate=0.05, feed_forward_proj="relu", pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id, tie_word_embeddings=True,
        )  # fmt: skip
        model = T5ForConditionalGeneration(t5)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model: {n_params / 1e6:.1f}M parameters, {threads} CPU thread(s)")

    def encode(batch: Sequence[tuple[str, str]]) -> dict[str, Any]:
        enc = tok([s for s, _ in batch], return_tensors="pt", padding=True, truncation=True, max_length=MAX_INPUT)
        lab = tok([t for _, t in batch], return_tensors="pt", padding=True, truncation=True, max_length=MAX_TARGET)
        labels = lab["input_ids"].clone()
        labels[labels == tok.pad_token_id] = -100
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}

    train_pairs.sort(key=lambda p: len(p[0]) + len(p[1]))  # length-bucketed batches, shuffled order
    batches = [train_pairs[i : i + cfg.batch_size] for i in range(0, len(train_pairs), cfg.batch_size)]
    total = len(batches) * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr if not cfg.base else cfg.lr / 3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, total // 20)) * max(0.05, 1 - s / max(1, total))
    )
    deadline = t0 + cfg.max_minutes * 60
    step, losses, stopped = 0, [], False
    from tqdm import tqdm

    bar = tqdm(total=total, desc="t5-local", disable=not progress, unit="batch")
    model.train()
    for _epoch in range(cfg.epochs):
        order = list(range(len(batches)))
        rng.shuffle(order)
        for bi in order:
            loss = model(**encode(batches[bi])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
            if time.perf_counter() > deadline:
                stopped = True
                break
        if stopped:
            say(f"time budget of {cfg.max_minutes} min reached after {step} of {total} steps")
            break
    bar.close()
    model.eval()
    with torch.no_grad():
        eval_loss = float(sum(model(**encode(eval_pairs[i : i + 16])).loss for i in range(0, n_eval, 16)))
        eval_loss /= (n_eval + 15) // 16
        scores = []
        for src, tgt in eval_pairs[: cfg.eval_samples]:
            enc = tok(src, return_tensors="pt", truncation=True, max_length=MAX_INPUT)
            gen = model.generate(**enc, max_new_tokens=MAX_TARGET, do_sample=False)
            scores.append(rouge_l(tok.decode(gen[0], skip_special_tokens=True), tgt))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    info = {
        "config": asdict(cfg),
        "parameters": n_params,
        "pairs": len(pairs),
        "steps": step,
        "planned_steps": total,
        "stopped_by_time": stopped,
        "train_loss_last": sum(losses[-50:]) / max(1, len(losses[-50:])),
        "eval_loss": eval_loss,
        "eval_rouge_l_vs_template": sum(scores) / max(1, len(scores)),
        "seconds": time.perf_counter() - t0,
        "threads": threads,
        "store": repr(store),
        "store_version": store.version(),
        "format": "pointer",
    }
    (out / "training_info.json").write_text(json.dumps(info, indent=2))
    say(f"saved to {out}: eval loss {eval_loss:.3f}, ROUGE-L vs template {info['eval_rouge_l_vs_template']:.3f}")
    return info


class T5LocalGenerator(Seq2SeqGenerator):
    """The fine-tuned small T5 saved by :func:`finetune` (a seq2seq model directory)."""

    name = "t5-local"

    def __init__(self, directory: str | Path, max_new_tokens: int = MAX_TARGET):
        super().__init__(directory, max_new_tokens=max_new_tokens)
        self.max_input_tokens = min(self.max_input_tokens, MAX_INPUT)
        info_file = Path(directory) / "training_info.json"
        info = json.loads(info_file.read_text()) if info_file.is_file() else {}
        self.pointer_format = info.get("format") == "pointer"
        self.invalid_pointers = 0

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        """Generate, then expand the ``[n]`` pointers into the candidates' names."""
        text = super().generate(request, context, strict=strict)
        if not self.pointer_format:
            return text
        text, invalid = expand_pointers(text, request, context)
        self.invalid_pointers += invalid
        return text
