from __future__ import annotations

from pathlib import Path

import pytest

FIXTURE_DATA = Path(__file__).resolve().parent.parent / "fixtures" / "data"


@pytest.fixture
def data_dir() -> Path:
    """The invented mini datasets, laid out like MUSICGRAPH_DATA_DIR."""
    return FIXTURE_DATA
