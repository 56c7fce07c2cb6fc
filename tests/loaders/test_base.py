from __future__ import annotations

import logging
from pathlib import Path

import pytest

import musicgraph.loaders as loaders
from musicgraph.loaders import base
from musicgraph.loaders.base import (
    DATASETS,
    DataNotFoundError,
    RowError,
    SourceFile,
    emit,
    fix_mojibake,
    parse_date,
    parse_float,
    parse_int,
    read_rows,
    slugify,
)
from musicgraph.loaders.records import LoadReport


def test_package_reexports() -> None:
    for name in (
        "SongRecord",
        "LoadReport",
        "DATASETS",
        "DataNotFoundError",
        "PlaylistTrack",
        "AudioFeatures",
    ):
        assert hasattr(loaders, name)
    assert issubclass(DataNotFoundError, FileNotFoundError)


def test_missing_file_names_path_and_env(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        SourceFile(tmp_path, "nope/missing.csv", LoadReport("x"), logging.getLogger("t"))
    message = str(info.value)
    assert str(tmp_path / "nope" / "missing.csv") in message
    assert "MUSICGRAPH_DATA_DIR" in message


def test_read_rows_line_numbers_multiline_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_bytes(b'a,b\r\n1,"two\r\nlines"\r\n\r\n3,x\r\n4\r\n5,\xff\r\n')
    report = LoadReport("t")
    src = SourceFile(tmp_path, "f.csv", report, logging.getLogger("t"))
    rows = list(read_rows(src, columns=2))
    assert [(r.line, r.fields) for r in rows] == [(2, ["1", "two\r\nlines"]), (5, ["3", "x"])]
    assert [(p.line, p.reason.split(" ")[0]) for p in report.problems] == [(6, "expected"), (7, "bad")]
    assert report.skipped == 2


def test_encoding_fallback(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_bytes("h\nCaf\xe9\nCafé\n".encode("latin-1") + "Café\n".encode())
    src = SourceFile(tmp_path, "f.csv", LoadReport("t"), logging.getLogger("t"))
    assert [r[0] for r in read_rows(src, encodings=("utf-8", "latin-1"))] == ["Café", "Café", "Café"]


def test_emit_logs_a_few_then_summary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "f.csv").write_text("h\n" + "bad\n" * 8 + "ok\n")
    report = LoadReport("t")
    src = SourceFile(tmp_path, "f.csv", report, logging.getLogger("musicgraph.test"))

    def build(row: base.Row) -> str:
        if row[0] == "bad":
            raise RowError("bad row")
        return row[0]

    with caplog.at_level(logging.WARNING):
        assert list(emit(src, read_rows(src), build)) == ["ok"]
    assert report.rows == 1 and report.skipped == 8
    assert len(caplog.records) == base.MAX_WARNINGS_PER_FILE + 1
    assert "skipped 8 malformed" in caplog.records[-1].getMessage()
    assert caplog.records[0].getMessage().startswith("f.csv:2:")


def test_number_helpers() -> None:
    assert parse_int(" 12 ", "n") == 12
    assert parse_int("12.0", "n") == 12
    assert parse_int("", "n") is None
    assert parse_float("-1e-3", "x") == -0.001
    for bad in ("1.5", "abc"):
        with pytest.raises(RowError):
            parse_int(bad, "n")
    for bad in ("nan", "x"):
        with pytest.raises(RowError):
            parse_float(bad, "x")
    with pytest.raises(RowError, match="empty n"):
        parse_int(" ", "n", required=True)


def test_parse_date() -> None:
    assert parse_date("2016-08-04", "d") == ("2016-08-04", 2016)
    assert parse_date("1999", "d") == ("1999", 1999)
    assert parse_date("1966-03", "d") == ("1966-03", 1966)
    assert parse_date("Aug. 4, 2016", "d") == ("2016-08-04", 2016)
    assert parse_date("", "d") == (None, None)
    with pytest.raises(RowError):
        parse_date("someday", "d")


def test_fix_mojibake_is_conservative() -> None:
    assert fix_mojibake("JosÃƒÂ©") == "José"
    assert fix_mojibake("MÃ¥negarm") == "Månegarm"
    assert fix_mojibake("Tone-LÃ…Â\x8dc") == "Tone-Lōc"
    for keep in ("LÂme", "OSKÃO", "Beyoncé", "plain"):
        assert fix_mojibake(keep) == keep


def test_slugify() -> None:
    assert slugify("90's Hip-Hop Don't Stop") == "90s-hip-hop-dont-stop"
    assert slugify("100% LatinX") == "100-latinx"
    assert slugify("70s & 80s Acoustic") == "70s-80s-acoustic"


def test_registry_covers_every_folder() -> None:
    folders = {info.folder for info in DATASETS.values()}
    assert folders == {
        "hetrec_lastfm2k",
        "spotify_features",
        "spotify_playlists_300",
        "mpd_emotion_playlists",
        "lyrics",
        "msd_subset",
        "mtg_jamendo_moods",
        "lexicons",
        "api_fixtures",
    }
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.url.startswith(("http://", "https://")), name
        assert info.terms and info.citation and info.description
    assert DATASETS["hetrec"].url == "https://grouplens.org/datasets/hetrec-2011/"
    assert "aicrowd.com" in DATASETS["mpd"].url
    assert DATASETS["mtg_jamendo"].url == "https://github.com/MTG/mtg-jamendo-dataset"


def test_registry_is_packaged_toml_and_names_real_loaders() -> None:
    import importlib
    from importlib import resources

    from musicgraph.loaders.base import load_datasets

    text = resources.files("musicgraph.loaders").joinpath("datasets.toml").read_text(encoding="utf-8")
    assert load_datasets(text) == DATASETS
    assert list(DATASETS)[:2] == ["hetrec", "spotify_tophits"]  # file order is the listing order
    for info in DATASETS.values():
        assert isinstance(info.files, tuple) and isinstance(info.loaders, tuple)
        for ref in info.loaders:
            module, func = ref.split(".")
            assert callable(getattr(importlib.import_module(f"musicgraph.loaders.{module}"), func)), ref


def test_registry_entry_errors_name_the_entry() -> None:
    from musicgraph.loaders.base import load_datasets

    entry = '[[dataset]]\nname = "x"\nfolder = "x"\ntitle = "x"\ndescription = "x"\nurl = "https://x"\nterms = "x"\n'
    with pytest.raises(ValueError, match=r"#1 \(x\).*citation"):
        load_datasets(entry)
    with pytest.raises(ValueError, match=r"#1 \(x\): unknown field\(s\) licence"):
        load_datasets(entry + 'citation = "x"\nlicence = "y"\n')
    with pytest.raises(ValueError, match=r"#2 \(x\): dataset 'x' listed twice"):
        load_datasets((entry + 'citation = "x"\n') * 2)
