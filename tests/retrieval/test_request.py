"""The request model: validation errors name their field, defaults, JSON files."""

from __future__ import annotations

import json

import pytest

from musicgraph.errors import RequestError
from musicgraph.retrieval.request import Relation, Request, Seed, parse_request, request_from_file


def test_defaults_and_effective_relation():
    r = parse_request({"seeds": [{"label": "Artist", "name": "Eminem"}, {"label": "Tag", "name": "rock"},
                                 {"label": "User", "name": "2"}]})
    assert (r.kind, r.k, r.combine) == ("song", 10, "any")
    assert [s.effective_relation(r.kind) for s in r.seeds] == [Relation.SIMILAR_TO, Relation.TAGGED,
                                                                Relation.LISTENED_BY]


@pytest.mark.parametrize("data, field, words", [
    ({"k": 0}, "k", "greater than or equal to 1"),
    ({"k": 1001}, "k", "less than or equal to 1000"),
    ({"kind": "podcast"}, "kind", "'song', 'artist', 'album' or 'playlist'"),
    ({"constraints": {"years": [2000, 1990]}}, "constraints.years", "minimum 2000 is above maximum 1990"),
    ({"constraints": {"features": {"energy": [0.5, 7.5]}}}, "constraints.features", "7.5 is outside 0..1"),
    ({"constraints": {"features": {"tempo": [float("nan"), None]}}}, "constraints.features", "finite"),
    ({"constraints": {"features": {"loudness_x": [0, 1]}}}, "constraints.features.loudness_x", "Input should be"),
    ({"seeds": [{"label": "Tag", "name": "rock", "relation": "fans_of"}]}, "seeds.0", "does not apply to a Tag"),
    ({"seeds": [{"label": "Planet", "name": "Mars"}]}, "seeds.0.label", ""),
    ({"seeds": [{"label": "Artist", "name": ""}]}, "seeds.0.name", "at least 1 character"),
    ({"bogus": 1}, "bogus", "Extra inputs"),
    ({"constraints": {"tags": ["x" * 300]}}, "constraints.tags", "too long"),
])
def test_invalid_requests_name_the_field(data, field, words):
    with pytest.raises(RequestError) as err:
        parse_request(data)
    msg = str(err.value)
    assert msg.startswith(f"invalid request: {field}") and "\n" not in msg
    assert words in msg
    assert err.value.field == field


def test_with_revalidates_and_copies():
    r = Request(seeds=[Seed(label="Artist", name="X", relation="fans_of")], kind="artist")
    r2 = r.with_(k=20, constraints={"tags": ["rock", "Rock", "pop"]})
    assert (r.k, r2.k) == (10, 20) and r2.constraints.tags == ["rock", "pop"]  # duplicates folded
    with pytest.raises(RequestError, match="k"):
        r.with_(k=-1)


def test_describe_names_every_part():
    r = parse_request({"seeds": [{"label": "Artist", "name": "Eminem", "relation": "fans_of"},
                                 {"label": "Artist", "name": "Dr. Dre", "relation": "fans_of"}], "combine": "all",
                       "constraints": {"tags": ["rock"], "years": [1990, 1999], "popularity": [None, 50],
                                       "exclude": [{"label": "Artist", "name": "Coldplay"}], "explicit": False},
                       "targets": {"moods": ["sad"]}, "kind": "artist", "k": 5})
    line = r.describe()
    for part in ("artists", "fans_of Artist:Eminem", "combine all", "tags rock", "years 1990..1999",
                 "popularity percentile <= 50", "no explicit", "not Artist:Coldplay", "prefer sad", "k 5"):
        assert part in line


def test_request_file_errors_have_file_line(tmp_path):
    good = tmp_path / "r.json"
    good.write_text(json.dumps({"seeds": [{"label": "Artist", "name": "Eminem", "relation": "fans_of"}],
                                "kind": "artist"}), encoding="utf-8")
    assert request_from_file(good).kind == "artist"
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "artist",\n "k": }', encoding="utf-8")
    with pytest.raises(RequestError, match=r"bad.json:2:\d+: invalid JSON"):
        request_from_file(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"k": "ten"}', encoding="utf-8")
    with pytest.raises(RequestError, match=r"wrong.json: invalid request: k"):
        request_from_file(wrong)
    with pytest.raises(RequestError, match="cannot read request file"):
        request_from_file(tmp_path / "missing.json")
