from __future__ import annotations

import numpy as np
import pytest
import torch

from musicgraph.errors import RequestError
from musicgraph.lm.genrec import (
    CodeLM,
    GenerativeRetriever,
    GraphFacts,
    ListMetrics,
    preference_pairs,
    sft_examples,
    train_genrec,
    user_profile,
)
from musicgraph.lm.semantic_ids import build_semantic_ids
from musicgraph.lm.train import TaskConfig
from musicgraph.lm.trainer import TrainConfig
from musicgraph.lm.weights import load_base

from .conftest import SONGS

# user -> {artist: plays}
LISTENS = {
    "hetrec:1": {"velvet foxes": 900, "moonlit harbor": 700, "quiet engines": 500, "bjork sisters": 400,
                 "glass lanterns": 300, "sunny side up": 2},
    "hetrec:2": {"sunny side up": 800, "glass lanterns": 600, "velvet foxes": 500, "moonlit harbor": 450,
                 "quiet engines": 300, "bjork sisters": 1},
    "hetrec:3": {"moonlit harbor": 50, "velvet foxes": 40},
}  # fmt: skip


@pytest.fixture()
def rich_store(store):
    store.upsert_nodes("User", [(u, {"name": u}) for u in LISTENS])
    store.upsert_edges("LISTENED_TO", "User", "Artist",
                       [(u, a, {"weight": w}) for u, arts in LISTENS.items() for a, w in arts.items()])  # fmt: skip
    return store


@pytest.fixture()
def facts(rich_store):
    return GraphFacts.from_store(rich_store, [s[0] for s in SONGS])


def test_graph_facts(facts):
    assert facts.song_artist["velvet foxes|rain on glass"] == "velvet foxes"
    assert facts.song_moods["sunny side up|golden hour"] == {"happy"}
    assert facts.song_year["quiet engines|static hearts"] == 1999
    assert user_profile(facts, "hetrec:1")[:2] == ["velvet foxes", "moonlit harbor"]
    co = dict(facts.co_listened("velvet foxes", ["hetrec:1", "hetrec:2"]))
    assert co["moonlit harbor"] == 2 and "velvet foxes" not in co


def test_instructions_never_use_held_out_data(facts):
    hidden_song = "velvet foxes|rain on glass"
    examples = sft_examples(facts, 300, seed=1, hidden_moods=[hidden_song], hidden_users=["hetrec:2"], min_fans=1)
    assert len(examples) == 300 and {e.kind for e in examples} >= {"mood", "like", "era"}
    for e in examples:
        if e.kind in ("mood", "situation", "mood+genre"):
            assert e.key != hidden_song
        if e.kind == "profile":  # only hetrec:1 is visible with enough artists; hetrec:2's favourite never shows
            assert "Sunny Side Up" not in e.text


def test_preference_pairs_prefer_heavily_played_artists():
    artists = [f"a{i}" for i in range(15)]
    facts = GraphFacts(
        artist_names={a: a.upper() for a in artists}, songs_by_artist={a: [f"{a}|song"] for a in artists},
        song_artist={f"{a}|song": a for a in artists},
        listens={"hetrec:9": {a: float(100 - 5 * i) for i, a in enumerate(artists)}, "hetrec:8": {"a1": 3.0}},
        song_moods={}, song_genres={}, song_year={},
    )  # fmt: skip
    pairs = preference_pairs(facts, 40, seed=2, hidden_users=["hetrec:7"])
    assert len(pairs) == 40
    for p in pairs:
        assert p.user == "hetrec:9" and p.text.count("A") >= 3  # the three most played, by name
        chosen, rejected = facts.song_artist[p.chosen], facts.song_artist[p.rejected]
        assert chosen in artists[3:10] and rejected in artists[10:]
        assert facts.listens["hetrec:9"][chosen] > facts.listens["hetrec:9"][rejected]
    with pytest.raises(ValueError, match="no visible user"):
        preference_pairs(facts, 5, hidden_users=["hetrec:9"])


def _ids(n_songs: int = len(SONGS)):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n_songs, 8)).astype(np.float32)
    ids, _ = build_semantic_ids([s[0] for s in SONGS], vectors, levels=3, size=4, seed=0)
    return ids


def test_beam_search_returns_only_valid_ids(tiny_model_dir):
    ids = _ids()
    model, tok = load_base(directory=tiny_model_dir)
    net = CodeLM(model, tok, ids.sizes)
    torch.manual_seed(0)
    with torch.no_grad():
        net.codes.weight.normal_(0, 1.0)
    found = net.beam_search("sad songs", ids.trie(), beams=6, k=5)
    assert len(found) == 5 and all(ids.key_of(code) is not None for code, _ in found)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    pool = [SONGS[0][0], SONGS[1][0]]
    only = net.beam_search("sad songs", ids.trie(pool), beams=6, k=5)
    assert {ids.key_of(c) for c, _ in only} == set(pool)
    free = net.beam_search("sad songs", None, beams=30, k=30)
    assert len(free) == 30 and sum(ids.key_of(c) is None for c, _ in free) > 0  # without the trie, invalid IDs


def test_teacher_forced_logp_matches_beam_scores(tiny_model_dir):
    ids = _ids()
    model, tok = load_base(directory=tiny_model_dir)
    net = CodeLM(model, tok, ids.sizes).eval()
    found = net.beam_search("calm music", None, beams=4, k=2)
    codes = torch.tensor([list(c) for c, _ in found])
    with torch.no_grad():
        logp = net.sequence_logp(["calm music"] * len(found), codes)
    assert np.allclose(logp.numpy(), [s for _, s in found], atol=1e-4)


def test_train_genrec_and_recommend(rich_store, tiny_model_dir, tmp_path):
    keys = [s[0] for s in SONGS]
    vectors = np.random.default_rng(1).normal(size=(len(keys), 8)).astype(np.float32)
    cfg = TaskConfig(examples=64, batch_size=8, train=TrainConfig(steps=6, lr=5e-3, threads=1, checkpoint_every=3),
                     dpo_steps=3, dpo_pairs=16)  # fmt: skip
    info = train_genrec(rich_store, tmp_path / "genrec", cfg, keys=keys, vectors=vectors,
                        hidden_users=["hetrec:3"], base_dir=tiny_model_dir, progress=False)  # fmt: skip
    assert info["sft"]["steps"] == 6 and info["semantic_ids"]["collision_rate_with_fourth_code"] == 0.0
    assert "dpo" not in info or info["dpo"]["steps"] == 3
    r = GenerativeRetriever(tmp_path / "genrec", base_dir=tiny_model_dir)
    results = r.recommend("sad songs like The Velvet Foxes", k=4, store=rich_store)
    assert len(results) == 4 and len({x.id for x in results}) == 4
    for x in results:
        assert x.id in keys and x.evidence["semantic_id"][0].startswith("<a") and x.artist
    with pytest.raises(ValueError, match="empty"):
        r.recommend("  ")
    # the Retriever interface: k, exclusions, songs only
    r.store = rich_store
    banned = results[0].id.split("|", 1)[0]
    req = {"text": "sad songs like The Velvet Foxes", "k": 3,
           "constraints": {"exclude": [{"label": "Artist", "name": banned, "key": banned}]}}
    found = r.search(req)
    assert len(found) == 3 and all(x.id in keys and not x.id.startswith(banned + "|") for x in found)
    assert [x.id for x in r.search("sad songs like The Velvet Foxes", k=4)] == [x.id for x in results]
    with pytest.raises(RequestError, match="songs only"):
        r.search({"text": "x", "kind": "artist"})
    with pytest.raises(FileNotFoundError, match="lm train --task genrec"):
        GenerativeRetriever(tmp_path / "nothing")


def test_list_metrics():
    m = ListMetrics()
    artist_of = {"a": "x", "b": "x", "c": "y"}
    m.add(["a", "b", "c"], {"c"}, 10, artist_of)
    m.add([None, "a"], {"zzz"}, 10, artist_of)
    s = m.summary()
    assert s["hit@10"] == 0.5 and s["invalid_rate"] == 0.25
    assert abs(s["ndcg@10"] - 0.5 * (1 / np.log2(4))) < 1e-4
    assert abs(s["artist_diversity"] - (2 / 3 + 1) / 2) < 1e-4
