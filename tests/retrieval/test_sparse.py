from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgraph.normalize import word_form
from musicgraph.retrieval.sparse import SparseIndex, oracle, oracle_top, same_ranking
from musicgraph.retrieval.text import tokenize

DOCS = [
    "the sad rain falls at night",
    "happy summer road trip with friends",
    "rain rain go away, come again another day",
    "dance all night long in the summer",
    "nothing here matches",
    "rain and night and rain at night",
]


def test_tokenizer_folds_and_drops_stopwords() -> None:
    assert tokenize("Don't STOP me now, Beyoncé!") == ["stop", "now", "beyonce"]
    assert word_form("Simon & Garfunkel") == "simon and garfunkel"


def test_engine_matches_oracle_on_fixture() -> None:
    toks = [tokenize(d) for d in DOCS]
    ix = SparseIndex().build(toks)
    ref = oracle(toks)
    for q in ["rain night", "summer dance", "road trip rain"]:
        got = ix.search(q, k=3)
        want = oracle_top(ref, tokenize(q), 3)
        assert [h.row for h in got] == [r for r, _ in want]
        assert np.allclose([h.score for h in got], [s for _, s in want], rtol=1e-5)


def test_same_ranking_allows_only_ties_to_swap() -> None:
    from musicgraph.retrieval.sparse import SparseHit

    scores = np.array([3.0, 2.0, 2.0, 1.0])
    want = [(0, 3.0), (1, 2.0), (2, 2.0)]
    assert same_ranking([SparseHit(0, 3, []), SparseHit(2, 2, []), SparseHit(1, 2, [])], scores, want)
    assert not same_ranking([SparseHit(0, 3, []), SparseHit(3, 1, []), SparseHit(1, 2, [])], scores, want)
    assert not same_ranking([SparseHit(0, 3, [])], scores, want)


def test_search_reports_matched_terms_and_skips_non_matching() -> None:
    ix = SparseIndex.from_texts(DOCS)
    hits = ix.search("rain summer", k=10)
    assert {h.row for h in hits} == {0, 1, 2, 3, 5}  # doc 4 shares no term
    assert all(set(h.terms) <= {"rain", "summer"} and h.terms for h in hits)
    assert ix.search("xyzzy", k=5) == []
    assert ix.search("rain", k=0) == []


def test_mask_excludes_rows() -> None:
    ix = SparseIndex.from_texts(DOCS)
    mask = np.ones(len(DOCS), dtype=bool)
    mask[5] = False
    assert 5 not in {h.row for h in ix.search("rain night", k=10, mask=mask)}


def test_save_load_roundtrip(tmp_path: Path) -> None:
    ix = SparseIndex.from_texts(DOCS)
    ix.save(tmp_path / "bm25")
    again = SparseIndex.load(tmp_path / "bm25")
    assert [(h.row, h.terms) for h in again.search("rain night", 4)] == [(h.row, h.terms) for h in ix.search("rain night", 4)]
    with pytest.raises(FileNotFoundError, match="index build"):
        SparseIndex.load(tmp_path / "missing")


def test_empty_corpus_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        SparseIndex().build([])


@pytest.mark.integration
def test_identical_top10_with_rank_bm25_on_real_lyrics(real_data_dir) -> None:
    """The engine and the oracle rank the real lyrics identically (same tokenizer and parameters)."""
    from musicgraph.loaders.lyrics import iter_metallica, iter_poplyrics

    data = real_data_dir
    texts = [r.lyrics for it in (iter_poplyrics(data), iter_metallica(data)) for r in it if r.lyrics]
    assert len(texts) > 900
    toks = [tokenize(t) for t in texts]
    ix = SparseIndex().build(toks)
    ref = oracle(toks)
    queries = ["love you baby", "rain night alone", "fire burn", "dance party tonight", "heart broken tears",
               "money cash rich", "god heaven pray", "summer sun beach", "fight kill death", "dream fly sky"]
    for q in queries:
        qt = tokenize(q)
        got = ix.search(qt, k=10)
        want = oracle_top(ref, qt, 10)
        assert np.allclose([h.score for h in got], [s for _, s in want], rtol=1e-4), q
        assert same_ranking(got, np.asarray(ref.get_scores(qt)), want), q
