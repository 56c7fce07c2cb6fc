from __future__ import annotations

from pathlib import Path

import pytest

from musicgraph.loaders import lexicons
from musicgraph.loaders.base import DataNotFoundError
from musicgraph.loaders.records import LoadReport


def test_nrc_vad(data_dir: Path) -> None:
    report = LoadReport("nrc_vad")
    vad = lexicons.load_nrc_vad(data_dir, report)
    assert vad == {"happyish": (0.9, 0.6, 0.7), "gloomy": (0.1, 0.3, 0.2)}
    assert [p.line for p in report.problems] == [4, 5]


def test_nrc_emotions_from_data_dir(data_dir: Path) -> None:
    report = LoadReport("nrc_emotion")
    emo = lexicons.load_nrc_emotions(data_dir, report, prefer_package=False)
    assert emo == {"abacus": ("trust",), "gloom": ("negative", "sadness")}
    assert report.skipped == 1


def test_nrc_emotions_prefers_package(tmp_path: Path) -> None:
    pytest.importorskip("nrclex")
    emo = lexicons.load_nrc_emotions(tmp_path)  # no data dir copy needed
    assert len(emo) > 6000 and "joy" in emo["happy"]


def test_vader_later_duplicate_wins(data_dir: Path) -> None:
    report = LoadReport("vader")
    assert lexicons.load_vader(data_dir, report) == {"good": 1.9, "bad": -2.5, "ok": 1.2}
    assert report.rows == 4 and [p.line for p in report.problems] == [5]


def test_afinn(data_dir: Path) -> None:
    report = LoadReport("afinn")
    assert lexicons.load_afinn(data_dir, report) == {"abandon": -2, "bad luck": -2, "superb": 5}
    assert [p.line for p in report.problems] == [4, 5]


@pytest.mark.parametrize("name", ["load_nrc_vad", "load_vader", "load_afinn"])
def test_missing(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataNotFoundError, match="MUSICGRAPH_DATA_DIR"):
        getattr(lexicons, name)(tmp_path)


def test_missing_nrc_emotions(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nrclex_nrc_en.json"):
        lexicons.load_nrc_emotions(tmp_path, prefer_package=False)
