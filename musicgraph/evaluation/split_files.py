"""Splits as plain files: one TSV row ``user<TAB>item<TAB>part`` per interaction.

The HetRec split itself is :func:`musicgraph.gnn.splits.hetrec_split` (one protocol for the GNN and
evaluation areas); this module writes and reads it as a text file, so any toolkit can evaluate on
exactly the same split, and a split produced elsewhere can be evaluated here
(``musicgraph eval --split-file``). RecBole atomic files come from
:meth:`musicgraph.gnn.splits.Split.to_recbole`.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from musicgraph.errors import MusicgraphError
from musicgraph.gnn.splits import Split

log = logging.getLogger(__name__)

PARTS: tuple[str, ...] = ("train", "valid", "test")
HEADER: tuple[str, str, str] = ("user", "item", "part")


class SplitFileError(MusicgraphError, ValueError):
    """A malformed split file; the message names the file and line."""


def write_split_tsv(split: Split, path: str | Path) -> Path:
    """Write ``split`` as ``user, item, part`` TSV (header line first); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(HEADER)
        for part in PARTS:
            users, items = getattr(split, part)
            for u, i in zip(users.tolist(), items.tolist(), strict=True):
                w.writerow((split.user_keys[u], split.item_keys[i], part))
    log.info("wrote split to %s", path)
    return path


def read_split_tsv(path: str | Path, seed: int = -1) -> Split:
    """Read a split file written by :func:`write_split_tsv` (or by hand, same columns).

    Keys are sorted, so indices are deterministic. Raises :class:`SplitFileError` naming the line of
    a bad row (wrong column count, unknown part, a (user, item) pair listed twice).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"split file not found: {path}")
    rows: list[tuple[str, str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or tuple(h.strip().lower() for h in header) != HEADER:
            raise SplitFileError(f"{path}:1: expected the header columns {HEADER}, got {header!r}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 3:
                raise SplitFileError(f"{path}:{line}: expected 3 tab-separated columns, got {len(row)}")
            user, item, part = (c.strip() for c in row)
            if part not in PARTS:
                raise SplitFileError(f"{path}:{line}: part must be one of {', '.join(PARTS)}, got {part!r}")
            if (user, item) in seen:
                raise SplitFileError(f"{path}:{line}: pair ({user}, {item}) already listed on line {seen[(user, item)]}")
            seen[(user, item)] = line
            rows.append((user, item, part))
    if not rows:
        raise SplitFileError(f"{path}: no interactions")
    user_keys = np.asarray(sorted({r[0] for r in rows}), dtype=object)
    item_keys = np.asarray(sorted({r[1] for r in rows}), dtype=object)
    uidx = {k: n for n, k in enumerate(user_keys)}
    iidx = {k: n for n, k in enumerate(item_keys)}
    parts = {p: ([uidx[u] for u, _, q in rows if q == p], [iidx[i] for _, i, q in rows if q == p]) for p in PARTS}
    arr = {p: (np.asarray(u, dtype=np.int64), np.asarray(i, dtype=np.int64)) for p, (u, i) in parts.items()}
    return Split(
        user_keys=user_keys,
        item_keys=item_keys,
        train_user=arr["train"][0],
        train_item=arr["train"][1],
        valid_user=arr["valid"][0],
        valid_item=arr["valid"][1],
        test_user=arr["test"][0],
        test_item=arr["test"][1],
        train_weight=np.ones(len(arr["train"][0]), dtype=np.float32),
        seed=seed,
    )
