"""Generative retrieval: SmolLM2 writes the semantic ID of a song for an instruction.

**IDs.** Every catalog song has a 4-code semantic ID (:mod:`musicgraph.lm.semantic_ids`). The codes
get their own embedding table (:class:`CodeLM`, one row per code of each level), used both to feed
a code back into the model and, tied, to score the next level's codes from the last hidden state;
the 49,152-token text vocabulary is left untouched.

**SFT.** Instructions composed from the graph's *visible* data (:func:`sft_examples`): moods and
situations (mood labels of the visible half of the labelled songs), "like <artist>" (songs by the
artists that the visible half of the HetRec users co-listen with it), genres, eras, mood + genre,
and user profiles ("music for someone who loves A, B and C" → a song by another of the user's top
artists). Loss: cross-entropy of the 4 codes.

**DPO.** Preference pairs from HetRec listening weights (:func:`preference_pairs`): for an
instruction built from a visible user's three most played artists, a song by a heavily played
artist of that user (ranks 4–10) is *chosen* and a song by one of the user's rarely played artists
(bottom third by plays) is *rejected*. Held-out users never appear.

**Decoding.** Beam search over the 4 levels with a :class:`~musicgraph.lm.trie.PrefixTrie` of valid
IDs (optionally of a pool of songs): every returned ID is a catalog song by construction.
``constrained=False`` decodes without the trie, to measure what the trie prevents.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from musicgraph.lm.semantic_ids import SemanticIds
from musicgraph.lm.trie import PrefixTrie
from musicgraph.retrieval.base import Retriever

if TYPE_CHECKING:
    from musicgraph.graph.results import Result
    from musicgraph.graph.store import GraphStore
    from musicgraph.lm.train import TaskConfig

log = logging.getLogger(__name__)

TASK = "genrec"
PROMPT = "Instruction: {text}\nSong:"
CODES_FILE = "code_embeddings.pt"

MOOD_PHRASES: dict[str, tuple[str, ...]] = {
    "sad": ("something sad", "melancholic tunes", "songs for feeling blue", "gloomy music", "tearjerkers",
            "sad music", "songs about heartache"),
    "happy": ("something happy", "songs that make me smile", "cheerful music", "good mood songs", "sunny tunes",
              "happy music"),
    "angry": ("angry music", "songs full of anger", "aggressive tracks", "furious music", "songs to vent to"),
    "relaxed": ("relaxed music", "chilled out songs", "easygoing tunes", "mellow music", "songs to chill to"),
    "calm": ("calm music", "tranquil tunes", "gentle quiet songs", "serene music", "peaceful songs"),
    "energetic": ("energetic music", "high tempo bangers", "songs with lots of energy", "adrenaline music",
                  "lively tracks"),
}  # fmt: skip
SITUATION_PHRASES: dict[str, tuple[str, ...]] = {
    "sad": ("music for a grey day alone", "songs for after a breakup"),
    "happy": ("music for a sunny picnic", "songs for a wedding dance"),
    "angry": ("music for a bad day at work", "songs for punching a bag"),
    "relaxed": ("music for a slow sunday", "songs for a hammock afternoon"),
    "calm": ("music to fall asleep to", "songs for yoga"),
    "energetic": ("music for a spin class", "songs for a sprint"),
}  # fmt: skip
LIKE_FRAMES = ("songs like {a}", "music similar to {a}", "for fans of {a}", "if I like {a}, what should I play?",
               "artists that sound like {a}")  # fmt: skip
GENRE_FRAMES = ("{g} songs", "some {g}", "play {g}", "a {g} track")
ERA_FRAMES = ("songs from the {e}", "{e} hits", "music of the {e}", "an {e} song")
MOOD_GENRE_FRAMES = ("{m} {g} songs", "{g} that sounds {m}")
PROFILE_FRAMES = ("music for someone who loves {a}, {b} and {c}", "I listen to {a}, {b} and {c} a lot",
                  "my favourites are {a}, {b} and {c}; recommend a song")  # fmt: skip
DECADES = (1960, 1970, 1980, 1990, 2000, 2010)


def decade_name(start: int) -> str:
    return f"{start % 100:02d}s" if start < 2000 else f"{start}s"


def profile_text(artists: Sequence[str], rng: random.Random) -> str:
    """A request made from three artist names (a user's profile)."""
    a, b, c = artists[:3]
    return rng.choice(PROFILE_FRAMES).format(a=a, b=b, c=c)


# ------------------------------------------------------------------------------- graph facts
@dataclass(slots=True)
class GraphFacts:
    """What the instruction builders read from the store, once."""

    artist_names: dict[str, str]
    songs_by_artist: dict[str, list[str]]
    song_artist: dict[str, str]
    listens: dict[str, dict[str, float]]
    song_moods: dict[str, set[str]]
    song_genres: dict[str, set[str]]
    song_year: dict[str, int]

    @classmethod
    def from_store(cls, store: GraphStore, keys: Iterable[str]) -> GraphFacts:
        wanted = set(keys)
        names = {n.key: n.name for n in store.iter_nodes("Artist")}
        songs_by_artist: dict[str, list[str]] = defaultdict(list)
        song_artist: dict[str, str] = {}
        for e in store.iter_edges("PERFORMED_BY"):
            if e.src.key in wanted and e.props.get("role") in (None, "main") and e.src.key not in song_artist:
                song_artist[e.src.key] = e.dst.key
                songs_by_artist[e.dst.key].append(e.src.key)
        listens: dict[str, dict[str, float]] = defaultdict(dict)
        for e in store.iter_edges("LISTENED_TO"):
            listens[e.src.key][e.dst.key] = float(e.props.get("weight") or 1.0)
        mood_names = {n.key: n.name.lower() for n in store.iter_nodes("Mood")}
        genre_names = {n.key: n.name for n in store.iter_nodes("Genre")}
        song_moods: dict[str, set[str]] = defaultdict(set)
        for e in store.iter_edges("HAS_MOOD"):
            if e.src.label == "Song" and e.src.key in wanted:
                song_moods[e.src.key].add(mood_names.get(e.dst.key, e.dst.key))
        song_genres: dict[str, set[str]] = defaultdict(set)
        artist_genres: dict[str, set[str]] = defaultdict(set)
        for e in store.iter_edges("HAS_GENRE"):
            g = genre_names.get(e.dst.key, e.dst.key)
            if e.src.label == "Song" and e.src.key in wanted:
                song_genres[e.src.key].add(g)
            elif e.src.label == "Artist":
                artist_genres[e.src.key].add(g)
        for s, a in song_artist.items():
            song_genres[s] |= artist_genres.get(a, set())
        years = {}
        for key, node in store.get_nodes("Song", list(wanted)).items():
            y = node.props.get("year")
            if isinstance(y, (int, float)) and not isinstance(y, bool) and 1900 < y < 2100:
                years[key] = int(y)
        return cls(names, dict(songs_by_artist), song_artist, dict(listens), dict(song_moods), dict(song_genres), years)

    def co_listened(self, artist: str, users: Iterable[str], top: int = 20) -> list[tuple[str, int]]:
        """Artists (with songs) most often played by the listeners of ``artist`` among ``users``."""
        co: Counter[str] = Counter()
        for u in users:
            arts = self.listens.get(u, {})
            if artist in arts:
                co.update(a for a in arts if a != artist and a in self.songs_by_artist)
        return co.most_common(top)


@dataclass(slots=True)
class GenrecExample:
    """One SFT example: an instruction and the song whose ID answers it."""

    text: str
    key: str
    kind: str


@dataclass(slots=True)
class PreferencePair:
    """One DPO pair: for ``text``, the song ``chosen`` is preferred over ``rejected``."""

    text: str
    chosen: str
    rejected: str
    user: str


def sft_examples(
    facts: GraphFacts, n: int, seed: int = 13, hidden_moods: Iterable[str] = (), hidden_users: Iterable[str] = (),
    min_fans: int = 5,
) -> list[GenrecExample]:
    """``n`` instruction → song examples from the visible data (see the module docstring).

    Args:
        min_fans: "like <artist>" instructions only for artists with this many visible listeners.
    """
    rng = random.Random(seed)
    hidden_m, hidden_u = set(hidden_moods), set(hidden_users)
    by_mood: dict[str, list[str]] = defaultdict(list)
    for s, moods in facts.song_moods.items():
        if s not in hidden_m and s in facts.song_artist:
            for m in moods:
                by_mood[m].append(s)
    by_genre: dict[str, list[str]] = defaultdict(list)
    for s, gs in facts.song_genres.items():
        for g in gs:
            by_genre[g].append(s)
    genres = [g for g, ss in by_genre.items() if len(ss) >= 20]
    by_decade: dict[int, list[str]] = defaultdict(list)
    for s, y in facts.song_year.items():
        if s in facts.song_artist:
            by_decade[y // 10 * 10].append(s)
    users = [u for u in facts.listens if u not in hidden_u]
    fans: dict[str, int] = Counter(a for u in users for a in facts.listens[u] if a in facts.songs_by_artist)
    like_artists = [a for a, c in fans.most_common(600) if c >= min_fans]
    co_cache: dict[str, list[tuple[str, int]]] = {}
    profiles = []
    for u in users:
        top = [a for a, _ in sorted(facts.listens[u].items(), key=lambda kv: -kv[1]) if a in facts.songs_by_artist]
        if len(top) >= 5:
            profiles.append((u, top[:10]))
    kinds = [("mood", 3), ("situation", 1), ("like", 4), ("genre", 2), ("era", 1), ("mood+genre", 1), ("profile", 2)]
    kinds = [(k, w) for k, w in kinds if (k not in ("mood", "situation", "mood+genre") or by_mood)
             and (k != "like" or like_artists) and (k not in ("genre", "mood+genre") or genres)
             and (k != "profile" or profiles) and (k != "era" or by_decade)]  # fmt: skip
    if not kinds:
        raise ValueError("the store has no visible moods, genres, years or listening data to build instructions from")
    out: list[GenrecExample] = []
    tries = 0
    while len(out) < n and tries < n * 10:
        tries += 1
        kind = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        if kind in ("mood", "situation"):
            mood = rng.choice([m for m in by_mood if m in MOOD_PHRASES])
            text = rng.choice((MOOD_PHRASES if kind == "mood" else SITUATION_PHRASES)[mood])
            key = rng.choice(by_mood[mood])
        elif kind == "like":
            a = rng.choice(like_artists)
            if a not in co_cache:
                co_cache[a] = facts.co_listened(a, users)
            co = co_cache[a]
            if not co:
                continue
            b = rng.choices([x for x, _ in co], weights=[c for _, c in co])[0]
            text = rng.choice(LIKE_FRAMES).format(a=facts.artist_names.get(a, a))
            key = rng.choice(facts.songs_by_artist[b])
        elif kind == "genre":
            g = rng.choice(genres)
            text, key = rng.choice(GENRE_FRAMES).format(g=g), rng.choice(by_genre[g])
        elif kind == "era":
            d = rng.choice([d for d in DECADES if by_decade.get(d)])
            text, key = rng.choice(ERA_FRAMES).format(e=decade_name(d)), rng.choice(by_decade[d])
        elif kind == "mood+genre":
            mood = rng.choice([m for m in by_mood if m in MOOD_PHRASES])
            g = rng.choice(genres)
            both = [s for s in by_mood[mood] if g in facts.song_genres.get(s, ())]
            if not both:
                continue
            text, key = rng.choice(MOOD_GENRE_FRAMES).format(m=mood, g=g), rng.choice(both)
        else:
            u, top = rng.choice(profiles)
            named = rng.sample(top[:5], 3)
            rest = [a for a in top if a not in named]
            text = profile_text([facts.artist_names.get(a, a) for a in named], rng)
            key = rng.choice(facts.songs_by_artist[rng.choice(rest)])
        out.append(GenrecExample(text, key, kind))
    return out


def user_profile(facts: GraphFacts, user: str) -> list[str]:
    """The user's artists with songs, most played first."""
    return [a for a, _ in sorted(facts.listens.get(user, {}).items(), key=lambda kv: -kv[1]) if a in facts.songs_by_artist]


def preference_pairs(
    facts: GraphFacts, n: int, seed: int = 13, hidden_users: Iterable[str] = (), min_artists: int = 6
) -> list[PreferencePair]:
    """``n`` DPO pairs from visible users' listening weights (see the module docstring).

    For a user whose artists (with songs) ranked by plays are ``r``: the instruction names ``r[:3]``,
    the chosen song is by one of ``r[3:10]`` and the rejected one by the bottom third of ``r``
    (the two groups never overlap).

    Raises:
        ValueError: no visible user has ``min_artists`` artists with songs.
    """
    rng = random.Random(seed + 1)
    hidden = set(hidden_users)
    users = []
    for u in facts.listens:
        if u in hidden:
            continue
        ranked = user_profile(facts, u)
        if len(ranked) >= max(5, min_artists):
            users.append((u, ranked))
    if not users:
        raise ValueError("no visible user has listened to enough artists with songs to build preference pairs")
    out = []
    for _ in range(n):
        u, ranked = rng.choice(users)
        cut = len(ranked) - max(1, len(ranked) // 3)
        named, heavy, light = ranked[:3], ranked[3 : min(10, cut)], ranked[cut:]
        text = profile_text([facts.artist_names.get(a, a) for a in named], rng)
        chosen = rng.choice(facts.songs_by_artist[rng.choice(heavy)])
        rejected = rng.choice(facts.songs_by_artist[rng.choice(light)])
        out.append(PreferencePair(text, chosen, rejected, u))
    return out


# ------------------------------------------------------------------------------- the model
def _cache_kw() -> str:
    """The name of the KV-cache argument of the decoder's forward (``cache`` in transformers 5)."""
    from transformers.models.llama.modeling_llama import LlamaModel

    params = inspect.signature(LlamaModel.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class CodeLM(torch.nn.Module):
    """A causal LM (usually with a LoRA adapter) plus an embedding table for semantic-ID codes.

    Args:
        lm: the (peft-wrapped) causal LM.
        tokenizer: its tokenizer.
        sizes: codes per level.
    """

    def __init__(self, lm: Any, tokenizer: Any, sizes: Sequence[int]):
        super().__init__()
        from musicgraph.lm.sft import split_model

        self.lm = lm
        self.tokenizer = tokenizer
        self.sizes = [int(s) for s in sizes]
        self.offsets = [int(x) for x in np.cumsum([0, *self.sizes[:-1]])]
        decoder, _ = split_model(lm)
        self.decoder = decoder
        emb = decoder.get_input_embeddings().weight
        self.codes = torch.nn.Embedding(sum(self.sizes), emb.shape[1])
        with torch.no_grad():
            self.codes.weight.normal_(0.0, float(emb.std()))
        self._cache_kw = _cache_kw()

    def prompt_ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded prompt ids and attention mask (left padding lines the codes up at the end)."""
        enc = [self.tokenizer(PROMPT.format(text=t), add_special_tokens=False)["input_ids"][-96:] for t in texts]
        width = max(len(e) for e in enc)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(enc), width), pad, dtype=torch.long)
        mask = torch.zeros((len(enc), width), dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, width - len(e) :] = torch.tensor(e)
            mask[i, width - len(e) :] = 1
        return ids, mask

    def level_weight(self, level: int) -> torch.Tensor:
        return self.codes.weight[self.offsets[level] : self.offsets[level] + self.sizes[level]]

    def level_logits(self, texts: Sequence[str], codes: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced logits of each level for ``codes`` (``(batch, levels)``)."""
        device = self.codes.weight.device
        ids, mask = self.prompt_ids(texts)
        ids, mask, codes = ids.to(device), mask.to(device), codes.to(device)
        levels = len(self.sizes)
        tok = self.decoder.get_input_embeddings()(ids)
        shifted = codes[:, : levels - 1] + torch.tensor(self.offsets[: levels - 1], device=device)
        emb = torch.cat([tok, self.codes(shifted).to(tok.dtype)], dim=1)
        full = torch.cat([mask, torch.ones((len(texts), levels - 1), dtype=mask.dtype, device=device)], dim=1)
        pos = (full.cumsum(1) - 1).clamp(min=0)
        hidden = self.decoder(inputs_embeds=emb, attention_mask=full, position_ids=pos).last_hidden_state
        last = hidden[:, -levels:]
        return [last[:, lv].float() @ self.level_weight(lv).float().T for lv in range(levels)]

    def loss(self, texts: Sequence[str], codes: torch.Tensor) -> torch.Tensor:
        logits = self.level_logits(texts, codes)
        codes = codes.to(logits[0].device)
        return sum(torch.nn.functional.cross_entropy(lg, codes[:, lv]) for lv, lg in enumerate(logits)) / len(logits)

    def sequence_logp(self, texts: Sequence[str], codes: torch.Tensor) -> torch.Tensor:
        """Summed log-probability of each row's ID (the DPO score)."""
        logits = self.level_logits(texts, codes)
        codes = codes.to(logits[0].device)
        return sum(torch.log_softmax(lg, -1).gather(1, codes[:, lv : lv + 1]).squeeze(1) for lv, lg in enumerate(logits))

    @torch.no_grad()
    def beam_search(
        self, text: str, trie: PrefixTrie | None, beams: int = 20, k: int = 10
    ) -> list[tuple[tuple[int, ...], float]]:
        """The ``k`` best IDs for ``text`` with their log-probabilities; with a ``trie`` only stored
        IDs can come out (without one, any combination of codes can)."""
        from transformers import DynamicCache

        device = self.codes.weight.device
        ids, mask = self.prompt_ids([text])
        cache = DynamicCache(config=self.decoder.config)
        out = self.decoder(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True,
                           **{self._cache_kw: cache})  # fmt: skip
        h = out.last_hidden_state[:, -1]
        seqs: list[tuple[int, ...]] = [()]
        scores = torch.zeros(1, device=device)
        plen = ids.shape[1]
        levels = len(self.sizes)
        for level in range(levels):
            logp = torch.log_softmax(h.float() @ self.level_weight(level).float().T, dim=-1)
            if trie is not None:
                allowed = torch.full_like(logp, float("-inf"))
                for b, seq in enumerate(seqs):
                    nxt = [c for c in trie.allowed(seq) if isinstance(c, int) and c < logp.shape[1]]
                    if nxt:
                        allowed[b, nxt] = 0.0
                logp = logp + allowed
            total = (scores[:, None] + logp).flatten()
            finite = int(torch.isfinite(total).sum())
            if finite == 0:
                return []
            width = min(beams if level < levels - 1 else k, finite)
            top = torch.topk(total, width)
            parents = (top.indices // logp.shape[1]).tolist()
            chosen = (top.indices % logp.shape[1]).tolist()
            seqs = [seqs[p] + (c,) for p, c in zip(parents, chosen, strict=True)]
            scores = top.values
            if level == levels - 1:
                break
            cache.batch_select_indices(torch.tensor(parents, device=device)) if level else \
                cache.batch_repeat_interleave(len(parents))
            emb = self.codes(torch.tensor(chosen, device=device) + self.offsets[level]).unsqueeze(1)
            att = torch.ones((len(parents), plen + level + 1), dtype=torch.long, device=device)
            pos = torch.full((len(parents), 1), plen + level, dtype=torch.long, device=device)
            out = self.decoder(inputs_embeds=emb.to(self.decoder.get_input_embeddings().weight.dtype),
                               attention_mask=att, position_ids=pos, use_cache=True, **{self._cache_kw: cache})  # fmt: skip
            h = out.last_hidden_state[:, -1]
        return [(s, float(v)) for s, v in zip(seqs, scores.tolist(), strict=True)][:k]


# ------------------------------------------------------------------------------- training
def _batches(items: Sequence[Any], size: int, seed: int) -> list[list[Any]]:
    idx = list(range(len(items)))
    random.Random(seed).shuffle(idx)
    return [[items[i] for i in idx[s : s + size]] for s in range(0, len(idx), size)]


def train_genrec(
    store: GraphStore,
    out: Path,
    cfg: TaskConfig,
    *,
    keys: Sequence[str],
    vectors: np.ndarray,
    hidden_moods: Iterable[str] = (),
    hidden_users: Iterable[str] = (),
    base_dir: Path | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Semantic IDs, SFT and DPO of the generative retriever; saves everything into ``out``.

    Args:
        store: the graph store (instructions and preference pairs).
        keys / vectors: the catalog songs and their vectors (:func:`~musicgraph.lm.semantic_ids.song_matrix`).
        hidden_moods / hidden_users: song labels and users held out for evaluation (never used).
    """
    from musicgraph.lm.dpo import dpo_loss, reference_logps
    from musicgraph.lm.lora import attach_lora
    from musicgraph.lm.semantic_ids import build_semantic_ids
    from musicgraph.lm.train import save_adapter, write_info
    from musicgraph.lm.trainer import TrainConfig, pick_device, train_loop
    from musicgraph.lm.weights import load_base

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    hidden_m, hidden_u = set(hidden_moods), set(hidden_users)
    sem, _rvq = build_semantic_ids(list(keys), vectors, seed=cfg.train.seed)
    sem.save(out)
    rvq_seconds = time.perf_counter() - t0
    facts = GraphFacts.from_store(store, keys)
    examples = [e for e in sft_examples(facts, cfg.examples, cfg.train.seed, hidden_m, hidden_u) if sem.code_of(e.key)]
    pairs = preference_pairs(facts, cfg.dpo_pairs, cfg.train.seed, hidden_u) if cfg.dpo_steps else []
    data_seconds = time.perf_counter() - t0 - rvq_seconds
    (out / "holdout.json").write_text(json.dumps({"hidden_moods": sorted(hidden_m), "hidden_users": sorted(hidden_u)}))
    model, tok = load_base(directory=base_dir)
    device = pick_device(cfg.train.device)
    lm = attach_lora(model, cfg.lora)
    net = CodeLM(lm, tok, sem.sizes).to(device)

    def codes_of(keys_: Sequence[str]) -> torch.Tensor:
        return torch.tensor([sem.code_of(k) for k in keys_], dtype=torch.long)

    batches = [([e.text for e in b], codes_of([e.key for e in b])) for b in _batches(examples, cfg.batch_size, cfg.train.seed)]
    trainable = [p for p in net.parameters() if p.requires_grad]
    net.train()

    def state() -> dict[str, Any]:
        return {n: p.detach().cpu().clone() for n, p in net.named_parameters() if p.requires_grad}

    def load_state(s: dict[str, Any]) -> None:
        with torch.no_grad():
            for n, p in net.named_parameters():
                if n in s:
                    p.copy_(s[n].to(p.device))

    sft = train_loop(lambda b: net.loss(b[0], b[1]), trainable, batches, cfg.train, out / "sft",
                     progress=progress, desc="lm genrec sft", resume=resume, state_fn=state, load_state_fn=load_state,
                     no_decay=[net.codes.weight])  # fmt: skip
    info: dict[str, Any] = {"task": TASK, "semantic_ids": sem.stats, "rvq_seconds": round(rvq_seconds, 1),
                            "sft_examples": len(examples), "sft_kinds": dict(Counter(e.kind for e in examples)),
                            "data_seconds": round(data_seconds, 1), "sft": sft.to_dict()}  # fmt: skip
    if pairs and cfg.dpo_steps:
        dpo_batches = [([p.text for p in b], codes_of([p.chosen for p in b]), codes_of([p.rejected for p in b]))
                       for b in _batches(pairs, cfg.batch_size, cfg.train.seed + 7)]  # fmt: skip
        net.eval()
        refs = reference_logps(lambda b: (net.sequence_logp(b[0], b[1]), net.sequence_logp(b[0], b[2])), dpo_batches,
                               progress=progress)
        net.train()
        indexed = [(i, b) for i, b in enumerate(dpo_batches)]
        stats: list[dict[str, float]] = []

        def dpo_step(item: tuple[int, Any]) -> torch.Tensor:
            i, b = item
            texts = b[0] + b[0]
            both = net.sequence_logp(texts, torch.cat([b[1], b[2]]))
            n = len(b[0])
            loss, st = dpo_loss(both[:n], both[n:], refs[i][0].to(both.device), refs[i][1].to(both.device), cfg.dpo_beta)
            stats.append(st)
            return loss

        dcfg = TrainConfig(steps=cfg.dpo_steps, lr=cfg.train.lr / 5, max_minutes=cfg.train.max_minutes / 2,
                           checkpoint_every=cfg.train.checkpoint_every, device=cfg.train.device,
                           threads=cfg.train.threads, seed=cfg.train.seed)  # fmt: skip
        dpo = train_loop(dpo_step, trainable, indexed, dcfg, out / "dpo", progress=progress, desc="lm genrec dpo",
                         resume=resume, state_fn=state, load_state_fn=load_state, no_decay=[net.codes.weight])  # fmt: skip
        tail = stats[-20:]
        info["dpo"] = {**dpo.to_dict(), "pairs": len(pairs), "beta": cfg.dpo_beta,
                       "reward_accuracy_last": round(sum(s["accuracy"] for s in tail) / max(1, len(tail)), 3),
                       "reward_accuracy_first": round(sum(s["accuracy"] for s in stats[:20]) / max(1, len(stats[:20])), 3)}  # fmt: skip
    net.eval()
    save_adapter(lm, out)
    torch.save({"weight": net.codes.weight.detach().cpu(), "sizes": sem.sizes}, out / CODES_FILE)
    info.update(total_seconds=round(time.perf_counter() - t0, 1), config=cfg.to_dict(), device=device,
                held_out={"moods": len(hidden_m), "users": len(hidden_u)})  # fmt: skip
    write_info(out, info)
    return info


# ------------------------------------------------------------------------------- retrieval
class GenerativeRetriever(Retriever):
    """Songs for a request, generated as semantic IDs by the trained model.

    A :class:`~musicgraph.retrieval.base.Retriever`: ``search(request)`` reads the request's text
    (the model was trained on instructions, not on structured requests), honours ``k`` and the
    song and artist exclusions, and answers songs only.

    Args:
        directory: the folder of ``musicgraph lm train --task genrec`` (default ``MUSICGRAPH_HOME/models/lm-genrec``).
        base_dir: the base model folder (default: the cached SmolLM2).
        store: the graph store for the songs' titles and artists (default: keys only).

    Raises:
        FileNotFoundError: the model has not been trained.
    """

    name = "genrec"
    kinds = frozenset({"song"})

    def __init__(self, directory: Path | None = None, base_dir: Path | None = None, stage: str = "final",
                 store: GraphStore | None = None):  # fmt: skip
        self.store = store
        from musicgraph.lm.answer import task_dir
        from musicgraph.lm.lora import load_adapted

        folder = directory or task_dir(TASK)
        if not (folder / CODES_FILE).is_file() or not (folder / "adapter").is_dir():
            raise FileNotFoundError(f"no generative retriever in {folder}: run `musicgraph lm train --task genrec`")
        if stage not in ("final", "sft"):
            raise ValueError(f"stage must be final or sft, got {stage!r}")
        self.ids = SemanticIds.load(folder)
        lm, tok = load_adapted(folder / "adapter", base_dir=base_dir, merge=stage == "final")
        self.net = CodeLM(lm, tok, self.ids.sizes)
        saved = torch.load(folder / CODES_FILE, map_location="cpu")
        with torch.no_grad():
            self.net.codes.weight.copy_(saved["weight"])
            if stage == "sft":  # the weights at the end of SFT, before DPO (for the DPO comparison)
                state = torch.load(folder / "sft" / "checkpoint" / "state.pt", map_location="cpu", weights_only=False)
                params = dict(self.net.named_parameters())
                for name, value in state["model"].items():
                    params[name].copy_(value)
        self.net.eval()
        self._trie = self.ids.trie()
        self.folder = folder

    def generate(self, text: str, k: int = 10, pool: Iterable[str] | None = None, constrained: bool = True,
                 beams: int = 20) -> list[tuple[tuple[int, ...], float]]:  # fmt: skip
        """The top ``k`` IDs (with log-probabilities) for ``text``; ``pool`` restricts them to those songs."""
        trie = (self.ids.trie(pool) if pool is not None else self._trie) if constrained else None
        return self.net.beam_search(text, trie, beams=max(beams, k), k=k)

    def get_search_results(self, request: Any) -> list[Result]:
        """The top ``request.k`` songs the model writes for ``request.text``, exclusions left out.

        Raises:
            RequestError: the request has no text or asks for another kind than songs.
        """
        from musicgraph.errors import RequestError

        if request.kind != "song":
            raise RequestError(f"generative retrieval answers songs only, not {request.kind}s", field="kind")
        if not request.text or not request.text.strip():
            raise RequestError("generative retrieval needs the request's text", field="text")
        banned_songs = {e.key for e in request.constraints.exclude if e.label == "Song" and e.key}
        banned_artists = {e.key for e in request.constraints.exclude if e.label == "Artist" and e.key}
        if not banned_songs and not banned_artists:
            return self.recommend(request.text, k=request.k, store=self.store)
        pool = [key for key in self.ids.keys
                if key not in banned_songs and key.split("|", 1)[0] not in banned_artists]  # fmt: skip
        return self.recommend(request.text, k=request.k, store=self.store, pool=pool)

    def recommend(self, query: str, k: int = 10, store: GraphStore | None = None,
                  pool: Iterable[str] | None = None) -> list[Result]:  # fmt: skip
        """Catalog songs for ``query`` with their semantic IDs in ``evidence["semantic_id"]``."""
        from musicgraph.graph.results import Result

        if not query or not query.strip():
            raise ValueError("the query is empty: describe the music you want")
        found = self.generate(query.strip(), k=k, pool=pool)
        keys = [self.ids.key_of(code) for code, _ in found]
        nodes = store.get_nodes("Song", [x for x in keys if x]) if store is not None else {}
        out = []
        for rank, ((code, logp), key) in enumerate(zip(found, keys, strict=True), start=1):
            if key is None:  # impossible with the trie; kept honest
                continue
            node = nodes.get(key)
            props = node.props if node is not None else {}
            title = str(props.get("title") or key.split("|", 1)[-1])
            out.append(Result(rank=rank, kind="song", id=key, name=title, score=math.exp(logp),
                              artist=str(props.get("artist") or "") or None, title=title,
                              scores={"genrec": logp}, evidence={"semantic_id": [self.ids.token_string(code)]}))  # fmt: skip
        return out


@dataclass(slots=True)
class ListMetrics:
    """Hit@k, NDCG@k (binary relevance), artist diversity and invalid-ID rate of ranked lists."""

    hits: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)
    ild: list[float] = field(default_factory=list)
    invalid: list[float] = field(default_factory=list)

    def add(self, ranked: Sequence[str | None], relevant: set[str], k: int, artist_of: dict[str, str],
            vectors: dict[str, np.ndarray] | None = None) -> None:  # fmt: skip
        top = list(ranked[:k])
        self.invalid.append(sum(x is None for x in top) / max(1, len(top)) if top else 0.0)
        valid = [x for x in top if x is not None]
        rel = [x in relevant for x in valid]
        self.hits.append(float(any(rel)))
        dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rel) if r)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
        self.ndcg.append(dcg / idcg if idcg else 0.0)
        self.diversity.append(len({artist_of.get(x, x) for x in valid}) / max(1, len(valid)) if valid else 0.0)
        if vectors is not None and len(valid) > 1:
            m = np.stack([vectors[x] for x in valid if x in vectors])
            if len(m) > 1:
                m = m / np.linalg.norm(m, axis=1, keepdims=True).clip(1e-9)
                sim = m @ m.T
                n = len(m)
                self.ild.append(float(1.0 - (sim.sum() - n) / (n * (n - 1))))

    def summary(self) -> dict[str, float]:
        def mean(v: list[float]) -> float:
            return round(float(np.mean(v)), 4) if v else float("nan")

        return {"n": len(self.hits), "hit@10": mean(self.hits), "ndcg@10": mean(self.ndcg),
                "artist_diversity": mean(self.diversity), "intra_list_distance": mean(self.ild),
                "invalid_rate": mean(self.invalid)}  # fmt: skip
