from __future__ import annotations

from musicgraph.retrieval.catalog import SongTable
from musicgraph.retrieval.graph import GraphComponent
from musicgraph.retrieval.linking import EntityLinker
from musicgraph.retrieval.query import _tokens


def _link(linker: EntityLinker, text: str):
    toks = _tokens(text)
    return linker.link(toks, range(len(toks)))


def test_linker_exact_alias_fuzzy_and_common_words(store, vad) -> None:
    cat = SongTable.from_store(store)
    linker = EntityLinker(store.projection(), cat, vocabulary=vad.keys(), min_tag_degree=1)
    assert [(s.label, s.key) for s in _link(linker, "like Daft Punk")] == [("Artist", "daft punk")]
    assert [(s.label, s.key) for s in _link(linker, "something like DP")] == [("Artist", "daft punk")]  # alias
    fuzzy = _link(linker, "like metalica")
    assert [(s.label, s.key) for s in fuzzy] == [("Artist", "metallica")] and fuzzy[0].score < 1
    # "queen" is an ordinary word: an artist only after a cue
    assert all(s.label != "Artist" for s in _link(linker, "a song fit for a queen and her court"))
    assert [(s.label, s.key) for s in _link(linker, "no queen")] == [("Artist", "queen")]
    assert [(s.label, s.key) for s in _link(linker, "fix you by coldplay")] == [("Song", "coldplay|fix you")]
    assert ("Tag", "french house") in [(s.label, s.key) for s in _link(linker, "some french house tunes")]


def test_graph_scores_co_listened_artist_songs(store) -> None:
    cat = SongTable.from_store(store)
    gc = GraphComponent(store.projection(), cat)
    from musicgraph.retrieval.query import Seed

    seeds = gc.seed_indexes([Seed("Artist", "daft punk", "Daft Punk", "daft punk")])
    gs = gc.score(seeds)
    justice = [cat.row("justice|genesis"), cat.row("justice|dance")]
    adele = cat.row("adele|someone like you")
    assert min(gs.scores[r] for r in justice) > gs.scores[adele]
    paths = gc.paths(gs, justice[0])
    assert paths and paths[0].nodes[0].key == "daft punk" and paths[0].nodes[-1].key == "justice|genesis"


def test_hidden_moods_remove_the_label_edges(store) -> None:
    cat = SongTable.from_store(store, hidden_moods={"adele|someone like you"})
    assert cat.moods[cat.row("adele|someone like you")] == []
    gc = GraphComponent(store.projection(), cat, hidden_moods={"adele|someone like you"})
    gs = gc.score(gc.seed_indexes([], moods=["sad"]))
    assert gs.scores[cat.row("coldplay|fix you")] > gs.scores[cat.row("adele|someone like you")]
