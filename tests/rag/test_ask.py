from __future__ import annotations

import pytest

from musicgraph.rag.ask import ask, refine_results, unknown_names
from musicgraph.rag.base import Generator
from musicgraph.rag.context import Context
from musicgraph.rag.mentions import NameIndex

from .conftest import SONGS, song_result


class InventingGenerator(Generator):
    """Names the first candidate and an invented song (every time, strict or not)."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        self.calls.append(strict)
        first = context.candidates[0].result
        return (
            f"1. {first.artist} - {first.title}: a fine pick.\n"
            "2. The Zorblatts - Moon Custard: invented, not in the catalog.\n"
            'You will also love "Purple Velvet Rain" by Nobody Real.'
        )


class OnlyInventsGenerator(Generator):
    name = "liar"

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        return "1. The Zorblatts - Moon Custard: perfect for rain."


class TinyBudgetGenerator(InventingGenerator):
    name = "tiny"
    max_input_tokens = 120


def test_template_answer_cites_retrieved_songs(store, retriever):
    answer = ask("sad songs for a rainy night", k=3, backend="template", retriever=retriever, store=store)
    retrieved = [r.id for r in retriever.search(answer.query, k=3)]
    assert answer.cited_ids == retrieved
    assert [r.result.id for r in answer.recommendations] == retrieved
    for rec in answer.recommendations:
        assert rec.result.display() in answer.text
        assert any(r.startswith("graph path:") for r in rec.reasons)
    assert answer.backend == "template" and not answer.fallback
    assert set(answer.timings) >= {"retrieve", "context", "generate", "ground", "total"}
    assert answer.grounding is not None and not answer.grounding.hallucinated
    assert answer.to_dict()["cited_ids"] == retrieved


def test_fake_generator_inventing_a_song_has_it_removed(store, retriever):
    gen = InventingGenerator()
    answer = ask("sad songs", k=3, retriever=retriever, store=store, generator=gen)
    assert answer.grounding is not None and answer.grounding.hallucinated
    assert answer.regenerated and gen.calls == [False, True]
    assert "Zorblatts" not in answer.text and "Moon Custard" not in answer.text
    assert "Purple Velvet Rain" not in answer.text and "Nobody Real" not in answer.text
    top = retriever.search("sad songs", k=1)[0]
    assert answer.cited_ids == [top.id]
    assert set(answer.cited_ids) <= {r.id for r in retriever.search("sad songs", k=3)}
    assert not answer.fallback and answer.backend == "fake"


def test_answer_with_nothing_grounded_falls_back_to_template(store, retriever):
    answer = ask("sad songs", k=2, retriever=retriever, store=store, generator=OnlyInventsGenerator())
    assert answer.fallback and answer.backend == "liar→template"
    assert "Zorblatts" not in answer.text
    assert len(answer.cited_ids) == 2


def test_bad_input(store, retriever):
    with pytest.raises(ValueError, match="empty"):
        ask("   ", retriever=retriever, store=store, backend="template")
    with pytest.raises(ValueError, match="k must be"):
        ask("sad songs", k=0, retriever=retriever, store=store, backend="template")


def test_nothing_in_catalog_says_so(store, retriever):
    answer = ask("nothing like The Zorblatts please", retriever=retriever, store=store, backend="template")
    assert answer.cited_ids == [] and answer.recommendations == []
    assert "found nothing in the catalog" in answer.text
    assert '"The Zorblatts" is not in the catalog' in answer.text


def test_unknown_names_checks_catalog(store):
    cat = NameIndex.from_store(store)
    assert unknown_names("sad songs like Quiet Engines", cat) == []
    assert unknown_names("songs like The Zorblatts and by Moonlit Harbor", cat) == ["The Zorblatts"]


def test_context_too_long_is_truncated_by_rank(store, make_retriever):
    keys = [s[0] for s in SONGS]
    retr = make_retriever(order=keys)
    gen = TinyBudgetGenerator()
    answer = ask("songs", k=9, retriever=retr, store=store, generator=gen)
    assert answer.evidence is not None and answer.evidence.truncated
    included = [c.id for c in answer.evidence.candidates]
    assert included == keys[: len(included)] and len(included) < 9
    assert set(answer.cited_ids) <= set(included)


def test_exclusion_filters_and_feature_targets(store, retriever):
    answer = ask("sad songs", k=3, retriever=retriever, store=store, backend="template",
                 filters={"exclude_artists": ["the velvet foxes"]})  # fmt: skip
    assert answer.cited_ids and all(not cid.startswith("velvet foxes|") for cid in answer.cited_ids)
    results = [song_result(i, s[0]) for i, s in enumerate(SONGS, start=1)]
    happy = refine_results(results, 2, feature_targets={"valence": 0.9, "energy": 0.9}, store=store)
    assert [r.id for r in happy] == ["sunny side up|golden hour", "sunny side up|jump the puddles"]
    assert [r.rank for r in happy] == [1, 2]


def test_filters_reach_the_retriever_as_constraints(store, make_retriever):
    retr = make_retriever(order=["velvet foxes|rain on glass", "quiet engines|static hearts"])
    answer = ask("sad", k=2, retriever=retr, store=store, backend="template",
                 filters={"energy": (0.2, None), "exclude_artists": ["Quiet Engines"]})  # fmt: skip
    sent = retr.requests[-1].constraints
    assert sent.features == {"energy": (0.2, None)}
    assert [(e.label, e.name) for e in sent.exclude] == [("Artist", "Quiet Engines")]
    assert answer.cited_ids == ["velvet foxes|rain on glass"]
    with pytest.raises(ValueError, match="unknown filter 'bogus'"):
        ask("sad", k=2, retriever=retr, store=store, backend="template", filters={"bogus": 1})


class ShapesGenerator(Generator):
    """Names real candidates and invents names in several shapes (quoted, unquoted 'by', a numbered
    list item, a bare artist in prose); in strict mode it keeps inventing, so grounding must remove."""

    name = "shapes"

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        self.calls.append(strict)
        a, b = context.candidates[0].result, context.candidates[1].result
        return (
            "Picks from the candidates:\n"
            f"1. {a.artist} - {a.title}: sad mood.\n"
            "2. Midnight Echoes, a hidden gem.\n"
            f"3. {b.artist} - {b.title}: low energy.\n"
            f'You could also try "Velvet Thunder" by Crimson Parade, or Midnight Echoes by The Velvet Foxes. '
            f"If {a.title} is your thing, Lunar Static would also work. {b.title} ends the night."
        )


class CorrectProseGenerator(Generator):
    """A correct answer in prose: only candidates, request words and ordinary capitalised words."""

    name = "correct"

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        a, b = context.candidates[0].result, context.candidates[1].result
        return (
            f"For a Rainy Night: {a.title} by {a.artist} is Sad and Quiet. "
            f'Then "{b.title}" by {b.artist}, a Calm, Low Energy pick. Since you like Glass Lanterns, '
            f"both share a Melancholic mood."
        )


def test_invented_names_in_every_shape_are_removed(store, retriever):
    gen = ShapesGenerator()
    answer = ask("sad songs", k=3, retriever=retriever, store=store, generator=gen)
    g = answer.grounding
    assert g is not None and g.hallucinated and answer.regenerated and gen.calls == [False, True]
    labels = {m.label() for m in g.unsupported}
    assert {"Crimson Parade - Velvet Thunder", "The Velvet Foxes - Midnight Echoes", "Lunar Static"} <= labels
    assert any("Midnight Echoes" in lab for lab in labels - {"The Velvet Foxes - Midnight Echoes"})  # list item
    for invented in ("Midnight Echoes", "Velvet Thunder", "Crimson Parade", "Lunar Static"):
        assert invented not in answer.text
    top2 = [r.id for r in retriever.search("sad songs", k=2)]
    assert answer.cited_ids == top2 and not answer.fallback
    assert "2. " in answer.text and "3. " not in answer.text  # renumbered list
    assert answer.text.rstrip().endswith("ends the night.")


def test_correct_prose_answer_is_left_intact(store, retriever):
    answer = ask("sad songs like Glass Lanterns", k=3, retriever=retriever, store=store,
                 generator=CorrectProseGenerator())  # fmt: skip
    assert answer.grounding is not None and not answer.grounding.hallucinated, [
        m.label() for m in answer.grounding.unsupported
    ]
    assert not answer.regenerated and not answer.fallback
    assert answer.text == answer.grounding.original
    assert answer.cited_ids == [r.id for r in retriever.search("sad songs like Glass Lanterns", k=2)]
