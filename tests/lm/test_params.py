from __future__ import annotations

import random

import pytest

from musicgraph.lm.params import (
    FAMILIES,
    ParamsModel,
    catalog_names,
    compose,
    lexicon_params,
    make_examples,
    params_request,
    parse_slots,
    request_params,
    slot_scores,
    slots_of,
    split_names,
    train_params,
)
from musicgraph.lm.train import TaskConfig
from musicgraph.lm.trainer import TrainConfig
from musicgraph.retrieval.query import LexiconParser


def test_slot_line_round_trip():
    p = parse_slots("moods=relaxed; energy~low; acousticness=high; year=1990s; like=Bonobo; no=Coldplay; genre=trip hop")
    assert p["moods"] == ["relaxed"] and p["seeds"] == ["Bonobo"] and p["genres"] == ["trip hop"]
    assert p["features"]["energy"] == {"level": "low", "target": 0.25, "range": [None, 0.4], "weight": 0.5}
    assert p["features"]["acousticness"]["weight"] == 1.0
    assert p["filters"] == {"year": [1990, 1999], "exclude_artists": ["Coldplay"]}
    assert parse_slots("garbage; energy=loud; moods=furry") == parse_slots("")
    assert parse_slots("instrumentalness=high")["filters"]["instrumentalness"] == [0.5, None]


def test_composed_requests_carry_their_gold():
    rng = random.Random(3)
    text, line = compose("{m} {s} music like {x}, no {n}", rng, ["Adele", "Muse"], ["rock"])
    gold = parse_slots(line)
    assert gold["seeds"] and gold["seeds"][0] in text and gold["filters"]["exclude_artists"][0] in text
    assert gold["moods"] and any(f["weight"] == 1.0 for f in gold["features"].values())
    ex = make_examples(["Adele", "Muse", "Bjork"], ["rock", "jazz"], 200, seed=1, exclude=["sad songs"])
    assert {e.family for e in ex} == {f for f, _, _ in FAMILIES}
    assert all(e.held_out == dict((f, h) for f, h, _ in FAMILIES)[e.family] for e in ex)
    assert "sad songs" not in {e.text for e in ex}
    train, held = split_names([f"a{i}" for i in range(20)])
    assert len(held) == 4 and not set(train) & set(held)


def test_scores_and_the_lexicon_parser_in_the_same_terms():
    gold = [parse_slots("moods=sad; valence~low; acousticness=high; year=1980s")]
    lex = lexicon_params(LexiconParser().parse("sad acoustic songs from the 80s"))
    assert slots_of(lex)["moods"] == {"sad"} and "acousticness=high" in slots_of(lex)["features"]
    assert "valence=low" not in slots_of(lex)["features"]  # implied by "sad": not a stated feature
    s = slot_scores(gold, [lex])
    assert s["exact_match"] == 1.0 and s["slots"]["year"]["f1"] == 1.0
    wrong = slot_scores(gold, [parse_slots("moods=happy")])
    assert wrong["exact_match"] == 0.0 and wrong["slots"]["moods"]["f1"] == 0.0


def test_the_request_parser_in_the_same_terms():
    from musicgraph.retrieval.parser import RequestParser

    gold = [parse_slots("moods=sad; valence~low; acousticness=high; year=1980s")]
    req = RequestParser().parse("sad acoustic songs from the 80s")
    got = request_params(req)
    assert slots_of(got)["moods"] == {"sad"} and slots_of(got)["year"] == {"1980s"}
    assert slot_scores(gold, [got])["slots"]["moods"]["f1"] == 1.0


def test_params_as_a_request():
    params = parse_slots("moods=relaxed; energy~low; acousticness=high; year=1990s; like=Bonobo; no=Coldplay; "
                         "genre=trip hop; popularity=low")
    req = params_request(params, "chill acoustic 90s trip hop like Bonobo, obscure, no Coldplay")
    c, t = req.constraints, req.targets
    assert t.moods == ["relaxed"] and t.features["energy"] == (None, 0.4)
    assert c.features["acousticness"] == (0.6, None) and "energy" not in c.features
    assert c.years == (1990, 1999) and c.genres == ["trip hop"] and c.popularity == (None, 40.0)
    assert [(s.name, s.key, s.relation.value) for s in req.seeds] == [("Bonobo", "bonobo", "similar_to")]
    assert [(e.label, e.name) for e in c.exclude] == [("Artist", "Coldplay")]
    back = request_params(req)  # the round trip keeps every slot the scorer compares
    assert slots_of(back) == slots_of(params)


def test_train_params_and_parse(store, tiny_model_dir, tmp_path):
    artists, genres = catalog_names(store)
    assert "The Velvet Foxes" in artists and genres == ["indie pop"]
    cfg = TaskConfig(examples=40, batch_size=8, train=TrainConfig(steps=3, lr=1e-3, threads=1))
    info = train_params(store, tmp_path / "params", cfg, base_dir=tiny_model_dir, progress=False)
    assert info["steps"] == 3 and "question" not in info["families"]  # held-out families never trained
    model = ParamsModel(tmp_path / "params", base_dir=tiny_model_dir)
    out = model.parse("sad songs like The Velvet Foxes")
    assert set(out) == {"moods", "exclude_moods", "features", "filters", "seeds", "genres"}
    assert model.parse_request("sad songs like The Velvet Foxes").text == "sad songs like The Velvet Foxes"
    with pytest.raises(ValueError, match="empty"):
        model.parse(" ")
