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
from dataclasses import dataclass, fields
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
    """One input file of a loader: its path, its path relative to ``data_dir``, and its problems.

    Args:
        data_dir: the dataset root (``MUSICGRAPH_DATA_DIR``).
        relpath: the file's path below ``data_dir``, with ``/`` separators (used in every message).
        report: the load report that counts the file's skipped rows.
        logger: the loader's logger (the first skipped rows are logged there).

    Raises:
        DataNotFoundError: the file does not exist.
    """

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

    Args:
        src: the file (its problems are reported there).
        delimiter, quoting: the :mod:`csv` dialect.
        encodings: encodings tried in turn for each line.
        header: whether the first record is a header (skipped, a BOM stripped).
        columns: the exact field count of a record (None: any).
        min_columns: the least field count of a record (None: any).
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

    Raises:
        ValueError: a wanted column is missing (a wrong file, not a bad row); the message names the file.
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


def _present(value: str | None, field: str, required: bool) -> str | None:
    """Stripped text, None when empty, or RowError ("empty <field>") when empty and ``required``."""
    raw = text(value)
    if raw is None and required:
        raise RowError(f"empty {field}")
    return raw


def parse_int(value: str | None, field: str, *, required: bool = False) -> int | None:
    """An integer ("12", "12.0" accepted); empty gives None (or RowError if required)."""
    raw = _present(value, field, required)
    if raw is None:
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
    raw = _present(value, field, required)
    if raw is None:
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


def load_datasets(text: str | None = None) -> dict[str, DatasetInfo]:
    """The dataset registry from the packaged ``datasets.toml`` (or from ``text``), by name, in file order.

    Raises ValueError naming the entry when one lacks a field or has an unknown one.
    """
    import tomllib
    from importlib import resources

    if text is None:
        text = resources.files("musicgraph.loaders").joinpath("datasets.toml").read_text(encoding="utf-8")
    known = {f.name for f in fields(DatasetInfo)}
    out: dict[str, DatasetInfo] = {}
    for i, entry in enumerate(tomllib.loads(text).get("dataset", [])):
        where = f"datasets.toml [[dataset]] #{i + 1} ({entry.get('name', '?')})"
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            info = DatasetInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()})
        except TypeError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if info.name in out:
            raise ValueError(f"{where}: dataset {info.name!r} listed twice")
        out[info.name] = info
    return out


#: Every public dataset (folder, URL, terms, citation, files, loaders): packaged data, ``datasets.toml``.
DATASETS: dict[str, DatasetInfo] = load_datasets()


def default_data_dir() -> Path:
    """``get_settings().data_dir`` (``MUSICGRAPH_DATA_DIR``); imported lazily to keep this module light."""
    from musicgraph.config import get_settings

    return get_settings().data_dir
