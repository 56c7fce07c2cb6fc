"""Filters inside every retriever component, checked against brute force on the invented catalog."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicgraph.retrieval.filters import FilterError, base_title, filter_mask, top_k_masked
from musicgraph.retrieval.fusion import FusionConfig

FILTERS = st.fixed_dictionaries({}, optional={
    "year": st.sampled_from([(1990, 1999), (2000, None), (None, 2008), (2010, 2013)]),
    "energy": st.sampled_from([(0.5, None), (None, 0.5), (0.2, 0.8)]),
    "genres": st.sampled_from([["electro house"], ["pop", "britpop"], ["ambient", "classic rock"]]),
    "exclude_artists": st.sampled_from([["Coldplay"], ["daft punk", "Adele"]]),
    "artists": st.sampled_from([["Justice", "Adele", "Coldplay", "Metallica"], ["daft punk", "nils frahm"]]),
    "moods": st.sampled_from([["happy"], ["sad", "calm"]]),
    "explicit": st.just(False),
    "duplicates": st.just(False),
})
QUERIES = ["rain night tears", "dance party summer", "fire rage", "love heart", "calm piano"]


def _brute_mask(cat, f):
    keep = cat.alive.copy()
    for i in range(len(cat)):
        y = cat.feature("year")[i]
        e = cat.feature("energy")[i]
        if "year" in f:
            lo, hi = f["year"]
            keep[i] &= not np.isnan(y) and (lo is None or y >= lo) and (hi is None or y <= hi)
        if "energy" in f:
            lo, hi = f["energy"]
            keep[i] &= not np.isnan(e) and (lo is None or e >= lo) and (hi is None or e <= hi)
        if "genres" in f:
            keep[i] &= any(g in f["genres"] for g in cat.genres[i])
        if "moods" in f:
            keep[i] &= any(m in f["moods"] for m in cat.moods[i])
        names = {cat.artists[i].lower(), cat.artist_keys[i]}
        if "exclude_artists" in f:
            keep[i] &= not names & {a.lower() for a in f["exclude_artists"]}
        if "artists" in f:
            keep[i] &= bool(names & {a.lower() for a in f["artists"]})
    return keep


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FILTERS, st.sampled_from(QUERIES), st.integers(1, 8))
def test_every_component_returns_exactly_k_filtered(retriever, make_encoder, f, query, k):
    cat = retriever.catalog
    mask = filter_mask(cat, f)
    assert np.array_equal(mask, _brute_mask(cat, f))
    # BM25: the exact top-k of the allowed rows sharing a query term
    hits = retriever.bundle.sparse.search(query, k=k, mask=mask)
    scores = retriever.bundle.sparse.scores(query.split())
    toks = set(query.split())
    match = [r for r in np.flatnonzero(mask) if toks & retriever.bundle.sparse.doc_terms(int(r))]
    assert len(hits) == min(k, len(match))
    want = sorted(match, key=lambda r: (-scores[r], r))[:k]
    assert [h.row for h in hits] == want
    # dense: exact top-k of the allowed rows (never a disallowed or padded row)
    q = make_encoder().encode([query])
    dense = retriever.bundle.dense
    s, rows = dense.search(q, k, mask=mask)
    allowed = np.flatnonzero(mask)
    got = [int(r) for r in rows[0] if r >= 0]
    assert len(got) == min(k, len(allowed))
    sims = np.asarray(dense.vectors)[allowed] @ q[0]
    best = np.sort(sims)[::-1][:k]
    assert np.allclose(s[0][: len(got)], best, atol=1e-6) and all(mask[r] for r in got)
    sim_of = dict(zip(allowed.tolist(), sims.tolist(), strict=True))
    assert np.allclose([sim_of[r] for r in got], best, atol=1e-6)  # the k best allowed (ties may swap)
    # graph: top-k of positive PPR scores among allowed rows
    gs = retriever.graph.score(retriever.graph.seed_indexes([], user="hetrec:1"))
    top = top_k_masked(gs.scores, mask, k)
    pos = [r for r in allowed if gs.scores[r] > 0]
    assert len(top) == min(k, len(pos)) and all(gs.scores[r] > 0 and mask[r] for r in top)
    assert top.tolist() == sorted(pos, key=lambda r: (-gs.scores[r], r))[:k]


@pytest.mark.parametrize("use", [dict(use_dense=False, use_graph=False), dict(use_bm25=False, use_graph=False),
                                 dict(use_bm25=False, use_dense=False)])
def test_retrieve_results_satisfy_filters(retriever, use):
    cfg = FusionConfig(per_artist=0, mmr_lambda=1.0)
    f = {"year": (2005, None), "exclude_artists": ["Coldplay"]}
    res = retriever.retrieve("songs like Daft Punk with dance and love", k=20, filters=f, config=cfg,
                             use_emotion=False, use_audio=False, **use)
    mask = filter_mask(retriever.catalog, f)
    assert res and all(mask[retriever.catalog.row(r.id)] for r in res)
    assert all(r.scores.get("fused", 0) > 0 for r in res)  # no zero-score padding


def test_not_known_by_user_and_flags(retriever):
    cat = retriever.catalog
    known = retriever.known_rows_of_user("hetrec:1")  # listened to Daft Punk and Justice
    assert {cat.artist_keys[r] for r in known} == {"daft punk", "justice"}
    m = filter_mask(cat, {"not_known_by": "hetrec:1"}, known_rows=retriever.known_rows_of_user)
    assert not m[list(known)].any() and m.sum() == cat.alive.sum() - len(known)
    res = retriever.retrieve("dance party", k=10, filters={"not_known_by": "hetrec:1"})
    assert all(r.artist not in ("Daft Punk", "Justice") for r in res)
    with pytest.raises(FilterError, match="unknown filter 'colour'.*year"):
        filter_mask(cat, {"colour": "red"})
    with pytest.raises(FilterError, match="'energy'.*pair"):
        filter_mask(cat, {"energy": 0.5})
    assert base_title("Song 2 (Remastered 2011)") == base_title("Song 2 - Live") == "song 2"
    assert filter_mask(cat, {"explicit": False}).sum() == cat.alive.sum()  # nothing marked explicit
    assert filter_mask(cat, {"explicit": True}).sum() == 0


def test_parser_maps_requests_to_constraints(retriever):
    p = retriever.parser
    q = p.parse("90s rock but no Coldplay, instrumental and clean please")
    c = q.constraints
    assert c.years == (1990.0, 1999.0)
    assert [(e.label, e.key) for e in c.exclude] == [("Artist", "coldplay")]
    assert c.features["instrumentalness"] == (0.5, None)
    assert c.explicit is False
    assert p.parse("something without vocals").constraints.features == {"instrumentalness": (0.5, None)}
    assert p.parse("explicit rap").constraints.explicit is True and p.parse("rap").constraints.explicit is None
    # the retriever applies them: instrumental songs only (Nils Frahm, Justice's Genesis)
    res = retriever.retrieve("instrumental music", k=10)
    assert res and all(retriever.catalog.feature("instrumentalness")[retriever.catalog.row(r.id)] >= 0.5 for r in res)
    # constraints are hard: one that no song satisfies gives no results, with a note saying so
    res, trace = retriever.search_traced("60s love songs")
    assert res == [] and any("no song" in n or "no item" in n for n in trace.notes)


def test_estimated_features_weigh_less(retriever):
    from musicgraph.retrieval.fusion import feature_match

    cat = retriever.catalog
    est_before = cat.estimated
    try:
        cat.estimated = np.zeros(len(cat), dtype=bool)
        cat.estimated[cat.row("nils frahm|says")] = True
        m_all = filter_mask(cat, {"instrumentalness": (0.5, None)})
        m_real = filter_mask(cat, {"instrumentalness": (0.5, None), "estimated": False})
        assert m_all[cat.row("nils frahm|says")] and not m_real[cat.row("nils frahm|says")]
        aud, _ = feature_match(cat.features, {"instrumentalness": (0.5, None)})
        assert aud[cat.row("nils frahm|says")] == aud[cat.row("nils frahm|ambre")] == 1.0
        retriever._prepare_emotion_sources()
        res = retriever.retrieve("instrumental", k=13, use_bm25=False, use_dense=False, use_graph=False)
        by = {r.id: r for r in res}
        assert by["nils frahm|ambre"].scores["audio"] == 1.0
        assert by["nils frahm|says"].scores["audio"] == pytest.approx(0.75)  # 0.5 + 0.5 * (1 - 0.5)
        assert any("(estimated)" in f for f in by["nils frahm|says"].evidence.get("features", []))
    finally:
        cat.estimated = est_before
        retriever._prepare_emotion_sources()
