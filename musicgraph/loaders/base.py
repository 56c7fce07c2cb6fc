"""Shared plumbing for the dataset loaders, and the registry of every dataset.

* :class:`DataNotFoundError` (a :class:`FileNotFoundError`) names the missing path and how to point
  ``MUSICGRAPH_DATA_DIR`` at the data.
* :func:`read_rows` streams a delimited file and tags every record with its physical line number;
  :class:`SourceFile` counts problems in the :class:`LoadReport` and logs a few of them per file.
* ``parse_*`` helpers raise :class:`RowError`; :func:`emit` catches it, reports the row (file, line,
  reason) and skips it, so a malformed row is never a crash and never silently dropped.
* :data:`DATASETS` describes every dataset (folder, official URL, terms, citation) for the README table.
"""

from __future__ import annotations

import csv
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from musicgraph.errors import MusicgraphError
from musicgraph.loaders.records import LoadReport

log = logging.getLogger(__name__)

R = TypeVar("R")

#: Warnings logged per file before only the summary line is logged.
MAX_WARNINGS_PER_FILE = 5

# Lyrics and other long fields exceed csv's default 128 KiB field limit only in bad files, but be safe.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class DataNotFoundError(MusicgraphError, FileNotFoundError):
    """A dataset file is missing; the message names it and how to set ``MUSICGRAPH_DATA_DIR``."""

    def __init__(self, path: Path, data_dir: Path | None = None) -> None:
        where = f" (data dir: {data_dir})" if data_dir is not None else ""
        super().__init__(
            f"dataset file not found: {path}{where}. Set MUSICGRAPH_DATA_DIR to the directory that holds "
            "the dataset folders (hetrec_lastfm2k/, spotify_features/, ...); see musicgraph.loaders.base.DATASETS "
            "for where to download each one."
        )
        self.path = path


class RowError(MusicgraphError, ValueError):
    """A malformed row: raised by the parse helpers, reported and skipped by :func:`emit`."""


def data_path(data_dir: Path, *parts: str) -> Path:
    """``data_dir/parts...``, raising :class:`DataNotFoundError` when it does not exist."""
    path = Path(data_dir).joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(path, Path(data_dir))
    return path


class SourceFile:
    """One input file of a loader: its path, its path relative to ``data_dir``, and its problems."""

    def __init__(self, data_dir: Path, relpath: str, report: LoadReport, logger: logging.Logger) -> None:
        self.data_dir = Path(data_dir)
        self.rel = relpath
        self.path = data_path(self.data_dir, *relpath.split("/"))
        self.report = report
        self.logger = logger
        self.problems = 0

    def problem(self, line: int, reason: str) -> None:
        """Count a skipped row in the report; log the first few at WARNING."""
        self.problems += 1
        self.report.add_problem(self.rel, line, reason)
        if self.problems <= MAX_WARNINGS_PER_FILE:
            self.logger.warning("%s:%d: skipped: %s", self.rel, line, reason)

    def finish(self) -> None:
        """Log the summary of skipped rows (once per pass over the file)."""
        if self.problems:
            shown = min(self.problems, MAX_WARNINGS_PER_FILE)
            self.logger.warning(
                "%s: skipped %d malformed row(s) in total (%d shown above)", self.rel, self.problems, shown
            )


def new_report(report: LoadReport | None, dataset: str) -> LoadReport:
    """The caller's report, or a fresh one (problems are still logged)."""
    return report if report is not None else LoadReport(dataset=dataset)


@dataclass(slots=True)
class Row:
    """One record of a delimited file: physical line where it starts and its (unstripped) fields."""

    line: int
    fields: list[str]

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, i: int) -> str:
        return self.fields[i]


def _decoded_lines(path: Path, encodings: Sequence[str], bad_lines: set[int]) -> Iterator[str]:
    """Decode ``path`` line by line, trying each encoding in turn; record lines none can decode."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            for enc in encodings:
                try:
                    yield raw.decode(enc)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                bad_lines.add(number)
                yield raw.decode(encodings[0], errors="replace")


def read_rows(
    src: SourceFile,
    *,
    delimiter: str = ",",
    encodings: Sequence[str] = ("utf-8",),
    quoting: int = csv.QUOTE_MINIMAL,
    header: bool = True,
    columns: int | None = None,
    min_columns: int | None = None,
) -> Iterator[Row]:
    """Stream the records of a delimited text file as :class:`Row` with physical line numbers.

    Handles CRLF and LF, quoted fields spanning lines, and per-line encoding fallback (each line is
    decoded with the first of ``encodings`` that works). Rows with undecodable bytes, or a column
    count other than ``columns`` (or fewer than ``min_columns``), are reported on ``src`` and skipped.
    Blank lines are not records and are passed over. The header line, when present, is consumed.
    """
    bad_lines: set[int] = set()
    lines = _decoded_lines(src.path, encodings, bad_lines)
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=False)
    first = True
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. NUL byte
            src.problem(start, f"unreadable CSV: {exc}")
            continue
        end = reader.line_num
        if first and header:
            first = False
            if fields and fields[0].startswith("\ufeff"):
                fields[0] = fields[0][1:]
            continue
        first = False
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if bad_lines and any(n in bad_lines for n in range(start, end + 1)):
            src.problem(start, f"bad encoding (not {'/'.join(encodings)})")
            continue
        if columns is not None and len(fields) != columns:
            src.problem(start, f"expected {columns} columns, got {len(fields)}")
            continue
        if min_columns is not None and len(fields) < min_columns:
            src.problem(start, f"expected at least {min_columns} columns, got {len(fields)}")
            continue
        yield Row(start, fields)


def read_header(src: SourceFile, *, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    """The stripped header fields of a delimited file (first record)."""
    with src.path.open(encoding=encoding, errors="replace", newline="") as fh:
        for fields in csv.reader(fh, delimiter=delimiter):
            return [f.strip().lstrip("\ufeff") for f in fields]
    return []


def header_columns(
    src: SourceFile, wanted: Sequence[str], *, delimiter: str = ",", encoding: str = "utf-8"
) -> tuple[dict[str, int], int]:
    """Column name -> index from the header line, and the header's width.

    Raises ValueError naming the file when a wanted column is missing (a wrong file, not a bad row).
    """
    header = read_header(src, delimiter=delimiter, encoding=encoding)
    missing = [name for name in wanted if name not in header]
    if missing:
        raise ValueError(f"{src.rel}: header lacks column(s) {missing}; got {header}")
    return {name: header.index(name) for name in header}, len(header)


def emit(src: SourceFile, rows: Iterable[Row], build: Callable[[Row], R | None]) -> Iterator[R]:
    """Build a record from every row; report and skip rows whose ``build`` raises :class:`RowError`.

    ``build`` returning None means "deliberately not a record" (documented by the loader; not a problem).
    Counts yielded records in ``src.report.rows`` and logs the per-file summary at the end.
    """
    try:
        for row in rows:
            try:
                record = build(row)
            except RowError as exc:
                src.problem(row.line, str(exc))
                continue
            if record is None:
                continue
            src.report.rows += 1
            yield record
    finally:
        src.finish()


# --- field helpers: strip, require, parse numbers (raise RowError, never anything else) ---


def text(value: str | None) -> str | None:
    """Stripped text, or None when empty."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def require(value: str | None, field: str) -> str:
    """Stripped non-empty text, else :class:`RowError` ("empty <field>")."""
    out = text(value)
    if out is None:
        raise RowError(f"empty {field}")
    return out


def parse_int(value: str | None, field: str, *, required: bool = False) -> int | None:
    """An integer ("12", "12.0" accepted); empty gives None (or RowError if required)."""
    raw = text(value)
    if raw is None:
        if required:
            raise RowError(f"empty {field}")
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        raise RowError(f"{field}: not an integer: {raw!r}") from None
    if not number.is_integer():
        raise RowError(f"{field}: not an integer: {raw!r}")
    return int(number)


def parse_float(value: str | None, field: str, *, required: bool = False) -> float | None:
    """A finite float; empty gives None (or RowError if required)."""
    raw = text(value)
    if raw is None:
        if required:
            raise RowError(f"empty {field}")
        return None
    try:
        number = float(raw)
    except ValueError:
        raise RowError(f"{field}: not a number: {raw!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RowError(f"{field}: not a finite number: {raw!r}")
    return number


def parse_bool(value: str | None, field: str) -> bool | None:
    """True/False (also 1/0, yes/no); empty gives None."""
    raw = text(value)
    if raw is None:
        return None
    low = raw.lower()
    if low in ("true", "1", "yes", "t"):
        return True
    if low in ("false", "0", "no", "f"):
        return False
    raise RowError(f"{field}: not a boolean: {raw!r}")


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_ISO_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_US_DATE = re.compile(r"^([A-Za-z]{3})[a-z]*\.?\s+(\d{1,2}),\s*(\d{4})$")


def parse_date(value: str | None, field: str) -> tuple[str | None, int | None]:
    """(release_date, year) from "YYYY", "YYYY-MM", "YYYY-MM-DD" or "Aug. 4, 2016" (made ISO)."""
    raw = text(value)
    if raw is None:
        return None, None
    m = _ISO_DATE.match(raw)
    if m:
        return raw, int(m.group(1))
    m = _US_DATE.match(raw)
    if m and m.group(1).lower() in _MONTHS:
        month, day, year = _MONTHS[m.group(1).lower()], int(m.group(2)), int(m.group(3))
        return f"{year:04d}-{month:02d}-{day:02d}", year
    raise RowError(f"{field}: unrecognised date: {raw!r}")


def split_list(value: str | None, sep: str = ",") -> tuple[str, ...]:
    """Split a delimited list, stripping items and dropping empty ones."""
    if value is None:
        return ()
    return tuple(item.strip() for item in value.split(sep) if item.strip())


_MOJIBAKE_MARKERS = re.compile(
    "[\u00c2\u00c3\u00c5\u00e2][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]"
)


def _cp1252_bytes(value: str) -> bytes | None:
    """Bytes of ``value`` in cp1252, with Latin-1 for the five bytes cp1252 leaves undefined; None if impossible."""
    out = bytearray()
    for ch in value:
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) < 256:
                out.append(ord(ch))
            else:
                return None
    return bytes(out)


def fix_mojibake(value: str, max_rounds: int = 3) -> str:
    """Undo UTF-8 text that was decoded as cp1252/Latin-1 (once or more): "JosÃƒÂ©" -> "José".

    Conservative: only when the string shows the typical two-character pattern and its bytes
    decode as strict UTF-8; otherwise the value is returned unchanged ("LÂme" stays).
    """
    for _ in range(max_rounds):
        if not _MOJIBAKE_MARKERS.search(value):
            return value
        raw = _cp1252_bytes(value)
        if raw is None:
            return value
        try:
            fixed = raw.decode("utf-8")
        except UnicodeDecodeError:
            return value
        if fixed == value:
            return value
        value = fixed
    return value


def slugify(value: str) -> str:
    """A stable ASCII-ish slug: lower case, apostrophes dropped, other non-alphanumerics -> "-"."""
    low = value.strip().lower().replace("'", "").replace("\u2019", "")
    slug = re.sub(r"[^\w]+", "-", low, flags=re.UNICODE).strip("-_")
    return slug.replace("_", "-") or "playlist"


# --- registry --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One public dataset: where it lives under the data dir, where it comes from, its terms."""

    name: str
    folder: str
    title: str
    description: str
    url: str
    terms: str
    citation: str
    files: tuple[str, ...] = ()
    copied_from: str | None = None
    loaders: tuple[str, ...] = ()


def _info(**kw: object) -> DatasetInfo:
    return DatasetInfo(**kw)  # type: ignore[arg-type]


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _info(
            name="hetrec",
            folder="hetrec_lastfm2k",
            title="HetRec 2011 Last.fm 2K",
            description="1,892 Last.fm users: 17,632 artists, 92,834 user-artist play counts, 25,434 friend rows, "
            "11,946 tags, 186,479 tag assignments.",
            url="https://grouplens.org/datasets/hetrec-2011/",
            terms="Non-commercial use (readme.txt); commercial use needs Last.fm's permission.",
            citation="Cantador, Brusilovsky, Kuflik. 2nd Workshop on Information Heterogeneity and Fusion in "
            "Recommender Systems (HetRec 2011). RecSys 2011, ACM.",
            files=(
                "artists.dat",
                "tags.dat",
                "user_artists.dat",
                "user_friends.dat",
                "user_taggedartists.csv",
            ),
            copied_from="github.com/DarakhTech/lastfm-dataset @bee00fc; user_taggedartists.csv from "
            "github.com/sumanp31/Recommender_system @0aef6f2",
            loaders=(
                "hetrec.iter_artists",
                "hetrec.iter_tags",
                "hetrec.iter_listens",
                "hetrec.iter_friends",
                "hetrec.iter_tag_assignments",
            ),
        ),
        _info(
            name="spotify_tophits",
            folder="spotify_features",
            title="Top Hits Spotify from 2000-2019",
            description="1,994 hit songs (53 exact duplicates) with Spotify audio features, popularity and genres.",
            url="https://www.kaggle.com/datasets/paradisejoy/top-hits-spotify-from-20002019",
            terms="No licence stated; Spotify Web API data under the Spotify Developer Terms (research use).",
            citation="Mark Koverha (paradisejoy), Top Hits Spotify from 2000-2019, Kaggle.",
            files=("songs_normalize.csv",),
            copied_from="github.com/Ujivl/MelodyMatch @cb583f7",
            loaders=("spotify.iter_top_hits",),
        ),
        _info(
            name="spotify_top10s",
            folder="spotify_features",
            title="Top Spotify songs from 2010-2019 - BY YEAR",
            description="603 Billboard-era top songs with audio features on 0-100 scales (converted to 0..1).",
            url="https://www.kaggle.com/datasets/leonardopena/top-spotify-songs-from-20102019-by-year",
            terms="No licence stated; Spotify Web API data under the Spotify Developer Terms (research use).",
            citation="Leonardo Henrique (leonardopena), Top Spotify songs from 2010-2019 - BY YEAR, Kaggle, 2019.",
            files=("top10s.csv",),
            copied_from="github.com/apurvasarode/Top-Song-Analysis @a2d3fd7",
            loaders=("spotify.iter_top10s",),
        ),
        _info(
            name="spotify_moods",
            folder="spotify_features",
            title="Spotify tracks with mood labels (data_moods.csv)",
            description="686 tracks with Spotify ids, audio features and a mood label (Happy/Sad/Energetic/Calm).",
            url="https://github.com/cristobalvch/Spotify-Machine-Learning",
            terms="No licence file; Spotify Web API data under the Spotify Developer Terms (research use).",
            citation="Cristóbal Veas (cristobalvch), Spotify-Machine-Learning, GitHub, data/data_moods.csv.",
            files=("data_moods.csv",),
            copied_from="github.com/cristobalvch/Spotify-Machine-Learning @6d952aa",
            loaders=("spotify.iter_mood_songs", "spotify.iter_mood_labels"),
        ),
        _info(
            name="spotify_artist_genres",
            folder="spotify_features",
            title="Spotify Dataset 1921-2020 (data_w_genres.csv, artists and genres only)",
            description="32,539 artist names with their Spotify genre lists (13,563 with none).",
            url="https://www.kaggle.com/datasets/yamaerenay/spotify-dataset-19212020-600k-tracks",
            terms="Kaggle dataset built from the Spotify Web API; Spotify Developer Terms (research use).",
            citation="Yamaç Eren Ay (yamaerenay), Spotify Dataset 1921-2020, 600k+ Tracks, Kaggle.",
            files=("artist_genres_data_w_genres.csv",),
            copied_from="github.com/veronicasoden/Spotify-Recs @3484da6 (data_w_genres.csv, trimmed)",
            loaders=("spotify.iter_artist_genres",),
        ),
        _info(
            name="spotify300",
            folder="spotify_playlists_300",
            title="300 Spotify editorial playlists (RA_19k)",
            description="18,835 (song, artist, album, playlist) rows of 300 Spotify editorial playlists, no ids.",
            url="https://github.com/re-ga-na/spotify-song-popularity",
            terms="No licence stated; collected from the Spotify Web API (Spotify Developer Terms).",
            citation="re-ga-na et al., spotify-song-popularity, GitHub, Team Datasets/RA_19k.csv.",
            files=("RA_19k_playlist_tracks.csv",),
            copied_from="github.com/re-ga-na/spotify-song-popularity @85289fb",
            loaders=("playlists.iter_spotify300",),
        ),
        _info(
            name="mpd",
            folder="mpd_emotion_playlists",
            title="Spotify Million Playlist Dataset: 40 emotion playlists",
            description="40 MPD playlists (2,081 tracks with Spotify URIs) with a gold emotion per playlist "
            "(angry/happy/relaxed/sad) and 436 scraped lyric texts.",
            url="https://www.aicrowd.com/challenges/spotify-million-playlist-dataset-challenge",
            terms="MPD: research use only, no redistribution (keep out of public commits); lyrics are copyrighted.",
            citation="Chen, Lamere, Schedl, Zamani. RecSys Challenge 2018: Automatic Music Playlist "
            "Continuation. RecSys 2018. Emotion subset: sgiammy, emotion-patterns-in-music-playlists (EURECOM, 2018).",
            files=(
                "old_silver_standard/playlist_test.csv",
                "old_silver_standard/<mood>/<pid>.csv",
                "old_silver_standard/lyrics/<pid>_<artist>_<title>.txt",
            ),
            copied_from="github.com/sgiammy/emotion-patterns-in-music-playlists @beb34b0",
            loaders=("playlists.iter_mpd_tracks", "playlists.iter_mpd_moods", "playlists.iter_mpd_lyrics"),
        ),
        _info(
            name="moodylyrics",
            folder="mpd_emotion_playlists",
            title="MoodyLyrics",
            description="2,595 songs labelled happy/angry/sad/relaxed from lyrics valence/arousal norms.",
            url="http://porto.polito.it/2664710/",
            terms="Research use (authors' release).",
            citation="Erion Çano, Maurizio Morisio. MoodyLyrics: A Sentiment Annotated Lyrics Dataset. ISMSI 2017, "
            "ACM, pp. 118-124. doi:10.1145/3059336.3059340.",
            files=("MoodyLyrics.csv",),
            copied_from="github.com/sgiammy/emotion-patterns-in-music-playlists @beb34b0",
            loaders=("moodylyrics.iter_moodylyrics",),
        ),
        _info(
            name="moodylyrics4q",
            folder="mpd_emotion_playlists",
            title="MoodyLyrics4Q",
            description="2,000 songs, 500 per Russell quadrant (happy/angry/sad/relaxed), from Last.fm user tags.",
            url="https://doi.org/10.5121/csit.2017.70603",
            terms="Research use (authors' release).",
            citation="Erion Çano, Maurizio Morisio. Music Mood Dataset Creation Based on Last.fm Tags. AIAP 2017, "
            "pp. 15-26. doi:10.5121/csit.2017.70603.",
            files=("MoodyLyrics4Q.csv",),
            copied_from="github.com/sgiammy/emotion-patterns-in-music-playlists @beb34b0",
            loaders=("moodylyrics.iter_moodylyrics4q",),
        ),
        _info(
            name="poplyrics1k",
            folder="lyrics",
            title="PopLyrics-1K",
            description="1,000 pop songs (128 artists) with full Genius lyrics, album, date, popularity, "
            "songwriters, Spotify artist genres and featured artists.",
            url="https://github.com/ashuwhy/poplyrics-1k",
            terms="Repository MIT; the lyrics are copyrighted by their rights holders (test/research use only).",
            citation="ashuwhy, poplyrics-1k, GitHub.",
            files=("poplyric-1k.csv",),
            copied_from="github.com/ashuwhy/poplyrics-1k @b0daed4 (parquet converted to CSV)",
            loaders=("lyrics.iter_poplyrics",),
        ),
        _info(
            name="metallica",
            folder="lyrics",
            title="Metallica lyrics",
            description="49 Metallica songs with album, year and lower-cased lyrics.",
            url="https://github.com/cristobalvch/Music-Lyrics-NLP",
            terms="No licence file; lyrics are copyrighted (research use only).",
            citation="Cristóbal Veas (cristobalvch), Music-Lyrics-NLP, GitHub, lyrics.csv.",
            files=("metallica_lyrics_cristobalvch.csv",),
            copied_from="github.com/cristobalvch/Music-Lyrics-NLP @8d86724",
            loaders=("lyrics.iter_metallica",),
        ),
        _info(
            name="msd",
            folder="msd_subset",
            title="Million Song Dataset, 10k subset track list",
            description="10,000 tracks: MSD track id, song id, artist, title.",
            url="http://millionsongdataset.com/",
            terms="Research use; most data under The Echo Nest API terms.",
            citation="Bertin-Mahieux, Ellis, Whitman, Lamere. The Million Song Dataset. ISMIR 2011.",
            files=("subset_unique_tracks.txt",),
            copied_from="github.com/re-ga-na/spotify-song-popularity @d36c104",
            loaders=("msd.iter_tracks",),
        ),
        _info(
            name="mtg_jamendo",
            folder="mtg_jamendo_moods",
            title="MTG-Jamendo (mood/theme split)",
            description="18,486 Jamendo tracks (1,533 artists) with 59 mood/theme tags; ids only.",
            url="https://github.com/MTG/mtg-jamendo-dataset",
            terms="Metadata CC BY-NC-SA 4.0; code Apache-2.0.",
            citation="Bogdanov, Won, Tovstogan, Porter, Serra. The MTG-Jamendo Dataset for Automatic Music "
            "Tagging. ML4MD Workshop, ICML 2019.",
            files=("autotagging_moodtheme.tsv",),
            copied_from="github.com/MTG/mtg-jamendo-dataset @1b4fa8c",
            loaders=("jamendo.iter_tracks",),
        ),
        _info(
            name="nrc_vad",
            folder="lexicons",
            title="NRC Valence, Arousal, and Dominance Lexicon v1",
            description="20,007 English words with valence, arousal and dominance in [0, 1].",
            url="https://saifmohammad.com/WebPages/nrc-vad.html",
            terms="Free for research and non-commercial use; commercial use needs a licence from NRC.",
            citation="Saif M. Mohammad. Obtaining Reliable Human Ratings of Valence, Arousal, and Dominance for "
            "20,000 English Words. ACL 2018.",
            files=("NRC-VAD-Lexicon.txt",),
            copied_from="github.com/alexander-schott/LyricGenerator @08de2d2",
            loaders=("lexicons.load_nrc_vad",),
        ),
        _info(
            name="nrc_emotion",
            folder="lexicons",
            title="NRC Word-Emotion Association Lexicon (EmoLex), as shipped by PyPI nrclex",
            description="6,468 words -> emotions (anger, anticipation, disgust, fear, joy, sadness, surprise, "
            "trust) and sentiment (positive, negative).",
            url="https://saifmohammad.com/WebPages/NRC-Emotion-Lexicon.htm",
            terms="Lexicon (c) NRC Canada, research/non-commercial use; nrclex package MIT.",
            citation="Saif M. Mohammad, Peter D. Turney. Crowdsourcing a Word-Emotion Association Lexicon. "
            "Computational Intelligence 29(3), 2013.",
            files=("nrclex_nrc_en.json",),
            copied_from="PyPI nrclex 4.1.0 (nrclex/data/nrc_en.json)",
            loaders=("lexicons.load_nrc_emotions",),
        ),
        _info(
            name="vader",
            folder="lexicons",
            title="VADER sentiment lexicon",
            description="7,520 lexicon lines (7,506 distinct tokens) with mean sentiment in [-4, 4].",
            url="https://github.com/cjhutto/vaderSentiment",
            terms="MIT.",
            citation="C.J. Hutto, Eric Gilbert. VADER: A Parsimonious Rule-based Model for Sentiment Analysis of "
            "Social Media Text. ICWSM 2014.",
            files=("vader_lexicon.txt",),
            copied_from="PyPI vaderSentiment 3.3.2 (vaderSentiment/vader_lexicon.txt)",
            loaders=("lexicons.load_vader",),
        ),
        _info(
            name="afinn",
            folder="lexicons",
            title="AFINN-165",
            description="3,382 English words and phrases scored -5..5.",
            url="https://github.com/fnielsen/afinn",
            terms="ODbL v1.0 (word list); package Apache-2.0.",
            citation="Finn Årup Nielsen. A new ANEW: Evaluation of a word list for sentiment analysis in "
            "microblogs. ESWC 2011 Workshop on Making Sense of Microposts, CEUR-WS 718.",
            files=("AFINN-en-165.txt",),
            copied_from="PyPI afinn 0.1 sdist (afinn/data/AFINN-en-165.txt)",
            loaders=("lexicons.load_afinn",),
        ),
        _info(
            name="api_fixtures",
            folder="api_fixtures",
            title="Recorded API responses (MusicBrainz, Genius, Last.fm)",
            description="43 MusicBrainz WS/2 JSON responses, 2 Genius search/multi, 1 Last.fm "
            "user.getRecentTracks page, for offline API-client tests.",
            url="https://musicbrainz.org/doc/MusicBrainz_API",
            terms="MusicBrainz core data CC0 (Picard repo GPL-2.0+); searx AGPL-3.0; domchristie/albums no licence.",
            citation="MetaBrainz Picard test/data/ws_data; searx tests/unit/engines/test_genius.py; "
            "domchristie/albums spec fixtures.",
            files=(
                "musicbrainz_picard_ws_data/*.json",
                "genius_searx/search_multi_*.json",
                "lastfm_domchristie/user.getRecentTracks_domchristie.json",
            ),
            copied_from="github.com/metabrainz/picard @638168b; github.com/searx/searx @2434c29; "
            "github.com/domchristie/albums @d6d3618",
            loaders=(),
        ),
    )
}


def default_data_dir() -> Path:
    """``get_settings().data_dir`` (``MUSICGRAPH_DATA_DIR``); imported lazily to keep this module light."""
    from musicgraph.config import get_settings

    return get_settings().data_dir
