"""The paraphrase benchmark: family files, the generator, typos and the request metrics (invented values)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from musicgraph.evaluation import paraphrase as P
from musicgraph.graph.resolve import normalize_tag
from musicgraph.retrieval.request import Constraints, EntityRef, Request, Seed, Targets


def _pool() -> P.SlotPool:
    artists = [("massive attack", "Massive Attack"), ("portishead", "Portishead"), ("radiohead", "Radiohead"),
               ("the cure", "The Cure"), ("bjork", "Bjork")]
    return P.SlotPool(
        artists=artists, collabs=artists[:2], tags=[("trip hop", "trip-hop"), ("shoegaze", "shoegaze")],
        genres=[("dream pop", "dream pop")], moods=["happy", "sad"],
        album_songs=[("portishead|roads", "Roads", "Portishead")],
        playlist_songs=[("radiohead|creep", "Creep", "Radiohead")], playlists=[("spotify300:rainy-day", "Rainy Day")],
        known_names=frozenset(normalize_tag(n) for _, n in artists))


def test_tuned_families_cover_every_relation_and_constraint():
    fams = P.load_families()
    assert len(fams) >= 15 and all(f.group == "tuned" for f in fams)
    relations = {s["relation"] for f in fams for s in f.gold.get("seeds", [])}
    assert relations >= {"fans_of", "similar_to", "performed_by", "member_of", "same_album", "in_playlist_with"}
    fields = {k for f in fams for k in f.gold}
    assert fields >= {"tags", "genres", "moods", "years", "features", "popularity", "explicit", "exclude", "combine", "k"}
    assert {f.gold["kind"] for f in fams} == {"song", "artist", "album", "playlist"}
    assert {f.name for f in fams if f.downstream == "fans_tag"} >= {"fans_tag_artists", "fans_tag_audience"}
    assert {v for f in fams for v in f.variants} == {"plain", "lower", "typo"}


def test_generator_makes_400_requests_deterministically():
    fams = P.load_families()
    items = P.generate(fams, _pool(), 16, seed=0)
    assert len(items) >= 400
    assert [i.text for i in items] == [i.text for i in P.generate(fams, _pool(), 16, seed=0)]
    # adding a family leaves the others' items unchanged
    more = P.generate([*fams[:3]], _pool(), 16, seed=0)
    assert [i.text for i in more] == [i.text for i in items[: len(more)]]
    variants = {i.variant for i in items}
    assert variants == {"plain", "lower", "typo"}
    two = next(i for i in items if i.family == "two_seed_all")
    assert len(two.gold.seeds) == 2 and two.gold.seeds[0].key != two.gold.seeds[1].key and two.gold.combine == "all"
    dec = next(i for i in items if i.family == "era_decade")
    lo, hi = dec.gold.constraints.years
    assert hi - lo == 9 and lo % 10 == 0


def test_gold_of_a_fans_tag_item():
    fam = next(f for f in P.load_families() if f.name == "fans_tag_artists")
    values = {"artist": P.SlotValue("Massive Attack", "Artist", "massive attack", "Massive Attack"),
              "tag": P.SlotValue("trip-hop", "Tag", "trip hop", "trip-hop")}
    text = P.render(fam.templates[0], values)
    assert text == "trip-hop artists that fans of Massive Attack listen to"
    assert P.render(fam.templates[0], values, "lower") == text.lower()
    gold = P.gold_request(fam, values, text)
    assert gold.kind == "artist" and gold.constraints.tags == ["trip-hop"]
    assert [(s.label, s.key, s.relation.value) for s in gold.seeds] == [("Artist", "massive attack", "fans_of")]


def test_typo_is_one_edit_that_keeps_the_first_letter():
    rng = np.random.default_rng(3)
    for _ in range(50):
        out = P.typo("Portishead", rng)
        assert out != "Portishead" and out[0] == "P" and abs(len(out) - len("Portishead")) <= 1
    assert P.typo("Bjork", np.random.default_rng(0), known=frozenset()) != "Bjork"
    assert P.typo("U2", np.random.default_rng(0)) == "U2"  # no word of five letters: unchanged
    # never another known name
    known = frozenset({"abcd", "abdce"})
    for s in range(20):
        assert normalize_tag(P.typo("Abcde", np.random.default_rng(s), known)) not in known


def test_family_file_errors_name_the_family(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[family]]\nname = "x"\ntemplates = ["songs by {artst}"]\n[family.gold]\nkind = "song"\n')
    with pytest.raises(ValueError, match=r"family 'x'.*unknown slot \{artst\}"):
        P.load_families(bad)
    bad.write_text('[[family]]\nname = "y"\ntemplates = ["songs by {artist}", "some songs"]\n'
                   '[family.gold]\nkind = "song"\nseeds = [{slot = "artist", relation = "performed_by"}]\n')
    with pytest.raises(ValueError, match=r"family 'y'.*'some songs' does not mention \{artist\}"):
        P.load_families(bad)
    bad.write_text('[[family]]\nname = "z"\ndownstream = "fans_tag"\ntemplates = ["{tag} songs"]\n'
                   '[family.gold]\nkind = "song"\ntags = ["{tag}"]\n')
    with pytest.raises(ValueError, match="exactly the slots"):
        P.load_families(bad)
    good = tmp_path / "heldout.toml"
    good.write_text('[[family]]\nname = "h"\ntemplates = ["{tag} tunes"]\n[family.gold]\nkind = "song"\ntags = ["{tag}"]\n')
    assert [(f.name, f.group) for f in P.load_families(good)] == [("h", "heldout")]


def _item(gold: Request, k_stated: bool = False) -> P.Item:
    return P.Item("f", "tuned", 0, "plain", gold.text or "", gold, k_stated)


def test_judge_exact_match_and_slot_counts():
    gold = Request(seeds=[Seed(label="Artist", name="Massive Attack", key="massive attack", relation="fans_of")],
                   constraints=Constraints(tags=["trip-hop"]), kind="artist")
    it = _item(gold)
    assert P.judge(it, gold).exact
    # a genre of the same name is the same tag; k is not compared unless stated
    same = gold.with_(constraints={"genres": ["Trip Hop"]}, k=20)
    assert P.judge(it, same).exact
    assert not P.judge(_item(gold, k_stated=True), same).exact
    wrong_rel = gold.with_(seeds=[{"label": "Artist", "name": "Massive Attack", "key": "massive attack",
                                   "relation": "similar_to"}])
    j = P.judge(it, wrong_rel)
    assert not j.exact and j.slots["seeds"] == (0, 1, 1) and j.slots["tags"] == (1, 0, 0)
    # a soft feature target is no error, a hard feature constraint is
    soft = gold.with_(targets=Targets(features={"valence": (None, 0.4)}))
    assert P.judge(it, soft).exact
    hard = gold.with_(constraints={"tags": ["trip-hop"], "features": {"energy": (0.6, None)}})
    assert P.judge(it, hard).slots["features"] == (0, 1, 0)
    # a failed parse matches nothing
    j = P.judge(it, None, "RequestError: empty")
    assert not j.exact and j.slots["kind"] == (0, 0, 1) and j.error


def test_slot_sets_conventions():
    r = Request(seeds=[Seed(label="Tag", name="shoegaze", key="shoegaze", relation="tagged")], kind="song")
    assert P.slot_sets(r, k_stated=False)["tags"] == {"shoegaze"}  # a tag seed alone is the tag
    two = Request(seeds=[Seed(label="Artist", name="A", key="a", relation="fans_of"),
                         Seed(label="Artist", name="B", key="b", relation="fans_of"),
                         Seed(label="Tag", name="rock", key="rock", relation="tagged")], combine="all", kind="artist")
    sets = P.slot_sets(two, k_stated=False)
    assert sets["combine"] == {"all"} and sets["tags"] == frozenset()  # beside entities a tag seed is no constraint
    assert "combine" not in P.slot_sets(Request(kind="song"), k_stated=False)
    pop = Request(constraints=Constraints(popularity=(None, 33.0), years=(1990, 1999), explicit=False,
                                          exclude=[EntityRef(label="Artist", name="Coldplay", key="coldplay")]))
    sets = P.slot_sets(pop, k_stated=True)
    assert sets["popularity"] == {"low"} and sets["years"] == {(1990, 1999)} and sets["explicit"] == {False}
    assert sets["exclude"] == {("Artist", "coldplay")} and sets["k"] == {10}
    assert P.slot_sets(Request(targets=Targets(moods=["sad"])), k_stated=False)["moods"] == {"sad"}


def test_score_micro_averages_per_slot():
    gold = Request(seeds=[Seed(label="Artist", name="A", key="a", relation="similar_to")], kind="song")
    it = _item(gold)
    js = [P.judge(it, gold), P.judge(it, gold.with_(kind="artist")), P.judge(it, None, "x")]
    sc = P.score(js)
    assert sc["n"] == 3 and sc["exact_match"] == pytest.approx(1 / 3) and sc["errors"] == 1
    kind = sc["slots"]["kind"]
    assert (kind["tp"], kind["fp"], kind["fn"]) == (1, 1, 2)
    assert kind["precision"] == pytest.approx(0.5) and kind["recall"] == pytest.approx(1 / 3)
    assert kind["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert P.prf(0, 0, 0) == (1.0, 1.0, 1.0) and P.prf(0, 2, 0)[2] == 0.0


def test_pool_from_a_store(tmp_path):
    from musicgraph.graph.embedded import EmbeddedStore

    s = EmbeddedStore(tmp_path / "s")
    s.upsert_nodes("Artist", [("massive attack", {"name": "Massive Attack"}), ("tricky", {"name": "Tricky"}),
                              ("\u30a2", {"name": "\u30a2"})])
    s.upsert_nodes("Song", [("massive attack|teardrop", {"title": "Teardrop", "artist": "Massive Attack"})])
    s.upsert_edges("PERFORMED_BY", "Song", "Artist", [("massive attack|teardrop", "massive attack", {"role": "main"}),
                                                       ("massive attack|teardrop", "tricky", {"role": "featured"})])
    s.upsert_nodes("User", [(f"hetrec:{i}", {}) for i in range(3)])
    s.upsert_edges("LISTENED_TO", "User", "Artist", [(f"hetrec:{i}", a, {"weight": 1}) for i in range(3)
                                                      for a in ("massive attack", "\u30a2")])
    pool = P.SlotPool.from_store(s, min_listeners=2, min_tag_artists=1, min_genre_artists=1)
    assert pool.artists == [("massive attack", "Massive Attack")]  # non-ASCII names left out
    assert {k for k, _ in pool.collabs} == {"massive attack", "tricky"}
    s.close()


def test_heldout_families_are_their_own_group_and_share_no_template_with_tuned():
    path = P.tuned_families_path().with_name("heldout.toml")
    held, tuned = P.load_families(path), P.load_families()
    assert len(held) >= 5 and {f.group for f in held} == {"heldout"}
    assert not {f.name for f in held} & {f.name for f in tuned}
    assert not {t.lower() for f in held for t in f.templates} & {t.lower() for f in tuned for t in f.templates}
    assert sum(1 for f in held if f.downstream == "fans_tag") >= 2
    assert len(P.generate(held, _pool(), 16, seed=0)) == 16 * len(held)


def test_round2_heldout_families_share_no_template_with_tuned_or_round1():
    path = P.tuned_families_path().with_name("heldout2.toml")
    held2 = P.load_families(path)
    earlier = P.load_families() + P.load_families(path.with_name("heldout.toml"))
    assert len(held2) >= 8 and {f.group for f in held2} == {"heldout2"}
    assert all(len(f.templates) >= 6 for f in held2)
    assert not {f.name for f in held2} & {f.name for f in earlier}
    assert not {t.lower() for f in held2 for t in f.templates} & {t.lower() for f in earlier for t in f.templates}
    assert sum(1 for f in held2 if f.downstream == "fans_tag") >= 3
    assert len(P.generate(held2, _pool(), 16, seed=0)) == 16 * len(held2)


def _gap_module():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "paraphrase_gap", Path(__file__).resolve().parents[2] / "benchmarks" / "paraphrase_gap.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fam(group: str, exact: float, tp: int, fp: int, fn: int) -> dict:
    return {"group": group, "n": 10, "exact_match": exact,
            "slots": {"kind": {"tp": 10, "fp": 0, "fn": 0}, "seeds": {"tp": tp, "fp": fp, "fn": fn}}}


def test_paraphrase_gap_is_other_minus_base_with_a_family_ci():
    gap = _gap_module()
    base = [_fam("tuned", 1.0, 10, 0, 0), _fam("tuned", 0.8, 8, 2, 2)]
    other = [_fam("heldout", 0.5, 5, 5, 5), _fam("heldout", 0.3, 3, 7, 7)]
    exact, f1 = gap.group_scores(base)
    assert exact == pytest.approx(0.9) and f1 == pytest.approx((1.0 + 0.9) / 2)
    r = gap.gap(base, other, n_boot=200)
    d, lo, hi = r["exact_match"]
    assert d == pytest.approx(0.4 - 0.9) and lo <= d <= hi and hi < 0
    d, lo, hi = r["mean_slot_f1"]
    assert d == pytest.approx((1.0 + 0.4) / 2 - (1.0 + 0.9) / 2) and lo <= d <= hi
    assert r["families"] == (2, 2)


def test_paraphrase_gap_cli_names_a_missing_group(tmp_path, capsys):
    gap = _gap_module()
    f = tmp_path / "parser.json"
    f.write_text(json.dumps({"families": {"a": _fam("tuned", 1.0, 1, 0, 0)}}))
    assert gap.main([str(f), "--base", "nope"]) == 2
    assert "no group 'nope'" in capsys.readouterr().err
    assert gap.main([str(tmp_path / "missing.json")]) == 2
