from __future__ import annotations

import random
import re

import pytest

from musicgraph.graph.results import ExplanationPath as GPath
from musicgraph.graph.schema import NodeRef
from musicgraph.lm.answer import (
    Facts,
    LMGenerator,
    compose_requests,
    expand_pointers,
    link_phrase,
    make_pairs,
    render_prompt,
    request_core,
    target_answer,
)
from musicgraph.lm.train import TaskConfig, train_answer
from musicgraph.lm.trainer import TrainConfig
from musicgraph.rag.context import build_context

from .conftest import FakeRetriever, song_result

KEYS = ["velvet foxes|rain on glass", "moonlit harbor|low tide lullaby", "quiet engines|static hearts"]


@pytest.fixture()
def ctx(store):
    results = [song_result(i, k) for i, k in enumerate(KEYS, start=1)]
    return build_context(results, store=store, budget=4096, query="sad songs for a rainy night")


def test_link_phrases():
    p = GPath([NodeRef("Artist", "radiohead"), NodeRef("User", "hetrec:1"), NodeRef("Artist", "muse"),
               NodeRef("Song", "muse|x")], ["Radiohead", "Last.fm user 1", "Muse", "X"],
              ["<-LISTENED_TO", "LISTENED_TO", "<-PERFORMED_BY"])  # fmt: skip
    assert link_phrase(p) == "fans of Radiohead"
    mood = GPath([NodeRef("Mood", "sad"), NodeRef("Song", "a|b")], ["sad", "B"], ["<-HAS_MOOD"])
    assert link_phrase(mood) is None
    tag = GPath([NodeRef("Tag", "trip-hop"), NodeRef("Artist", "a"), NodeRef("Song", "a|b")], ["trip-hop", "A", "B"],
                ["<-TAGGED", "<-PERFORMED_BY"])  # fmt: skip
    assert link_phrase(tag) == "tag trip-hop"


def test_prompt_lists_every_candidate_with_its_facts(ctx):
    facts = [Facts.of(c) for c in ctx.candidates]
    prompt = render_prompt("sad songs for a rainy night", facts)
    assert prompt.startswith("Request: sad songs for a rainy night\nEvidence:\n") and prompt.endswith("Answer:\n")
    assert "[1] The Velvet Foxes - Rain on Glass (2003) | mood: sad" in prompt
    assert "[3] Quiet Engines - Static Hearts (1999)" in prompt


def test_targets_cite_each_candidate_once_with_a_true_reason(ctx):
    facts = [Facts.of(c) for c in ctx.candidates]
    texts = set()
    for seed in range(30):
        text = target_answer("play me sad songs for a rainy night", facts, random.Random(seed), ["sad"])
        lines = text.splitlines()
        assert len(lines) == 1 + len(facts)
        assert "sad songs for a rainy night" in lines[0] and "[" not in lines[0]
        for f, line in zip(facts, lines[1:], strict=True):
            assert re.findall(r"\[(\d+)\]", line) == [str(f.number)]
            for mood in ("happy", "calm", "energetic", "angry"):  # only moods the candidate has
                if mood in line:
                    assert mood in f.moods, (line, f)
            if re.search(r"\b(19|20)\d\d\b", line):
                assert str(f.year) in line
        texts.add(text)
    assert len(texts) > 20  # varied sentences, not one template
    assert request_core("Please play me some sad songs!") == "sad songs"


def test_expand_pointers(ctx):
    text, cited = expand_pointers("Two picks.\n[2] is calm.\n[9] is invented.\nTry [1].", ctx.by_id() and
                                  {c.number: c for c in ctx.candidates})  # fmt: skip
    assert cited == [2, 1]
    assert '"Low Tide Lullaby" by Moonlit Harbor [2] is calm.' in text and "[9]" not in text
    assert text.endswith('Try "Rain on Glass" by The Velvet Foxes [1].')


def test_requests_avoid_excluded_texts():
    reqs = compose_requests(["Adele"], ["indie pop"], 40, seed=2, exclude=["sad songs for reading"])
    assert len({t for t, _ in reqs}) == len(reqs) == 40
    assert all(t.lower() != "sad songs for reading" for t, _ in reqs)


def test_pairs_from_the_store(store):
    pairs = make_pairs(store, FakeRetriever(), n=6, seed=3, progress=False)
    assert len(pairs) == 6
    for p in pairs:
        assert p.prompt.startswith(f"Request: {p.request}\n") and p.target.count("[") >= 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    from rag.conftest import build_store

    folder = tmp_path_factory.mktemp("lm-answer")
    st = build_store(str(folder / "store"))
    cfg = TaskConfig(examples=24, batch_size=4, train=TrainConfig(steps=4, lr=1e-3, threads=1, checkpoint_every=2))
    info = train_answer(st, folder / "model", cfg, retriever=FakeRetriever(), base_dir=tiny_model_dir, progress=False)
    st.close()
    return folder / "model", info


def test_train_answer_saves_adapter_vocab_and_info(trained):
    folder, info = trained
    assert (folder / "adapter" / "adapter_config.json").is_file() and (folder / "answer_vocab.json").is_file()
    assert (folder / "training_info.json").is_file() and (folder / "checkpoint" / "state.pt").is_file()
    assert info["steps"] == 4 and info["cpu_seconds"] >= 0 and info["device"] == "cpu"


def test_generator_writes_only_valid_pointers(trained, tiny_model_dir, ctx):
    folder, _ = trained
    gen = LMGenerator(folder, base_dir=tiny_model_dir, max_new_tokens=48)
    raw, _ = gen.raw_generate("sad songs", ctx)
    assert all(n in {"1", "2", "3"} for n in re.findall(r"\[(\d+)\]", raw))
    assert "]" not in re.sub(r"\[\d+\]", "", raw)
    text = gen.generate("sad songs", ctx)
    assert not re.search(r"\[(?:[4-9]|\d\d)\]", text)


def test_ask_with_the_lm_backend(trained, tiny_model_dir, store):
    from musicgraph.rag.ask import ask

    folder, _ = trained
    gen = LMGenerator(folder, base_dir=tiny_model_dir, max_new_tokens=48)
    ans = ask("sad songs for a rainy night", k=3, generator=gen, retriever=FakeRetriever(), store=store)
    assert ans.backend in ("lm", "lm→template")
    assert set(ans.cited_ids) <= {c.id for c in ans.evidence.candidates}
