from __future__ import annotations

from pathlib import Path

from musicgraph.loaders import moodylyrics
from musicgraph.loaders.records import LoadReport, MoodLabel


def test_moodylyrics(data_dir: Path) -> None:
    report = LoadReport("moodylyrics")
    labels = list(moodylyrics.iter_moodylyrics(data_dir, report))
    assert labels == [
        MoodLabel("moodylyrics", "Invented Singer", "Morning Light", "happy", source_id="ML1"),
        MoodLabel("moodylyrics", "Månegruppen", "Kall Natt", "sad", source_id="ML2"),
        MoodLabel("moodylyrics", "Runner", "Slow Down", "relaxed", source_id="ML5"),
    ]
    assert [(p.line, p.reason) for p in report.problems] == [
        (4, "empty Song"),
        (5, "Emotion: unknown label 'bored'"),
    ]


def test_moodylyrics4q(data_dir: Path) -> None:
    report = LoadReport("moodylyrics4q")
    labels = list(moodylyrics.iter_moodylyrics4q(data_dir, report))
    assert [(x.artist, x.title, x.mood) for x in labels] == [
        ("José Inventado", "Adios Mañana", "happy"),
        ("Angry Men", "Shout", "angry"),
    ]
    assert all(x.source == "moodylyrics4q" for x in labels)
    assert report.skipped == 1 and report.problems[0].line == 4
