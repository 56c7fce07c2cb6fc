"""Typed configuration, read from environment variables with the prefix ``MUSICGRAPH_``.

Every setting of musicgraph lives here, so there is one place to look::

    MUSICGRAPH_DATA_DIR     where the public datasets are (default: ../shared/data beside the repository)
    MUSICGRAPH_HOME         where stores, indexes, models and the Neo4j home live (default: ~/.musicgraph)
    MUSICGRAPH_NEO4J_URI    bolt://... of a Neo4j server; unset means the embedded store
    MUSICGRAPH_NEO4J_USER / MUSICGRAPH_NEO4J_PASSWORD
    MUSICGRAPH_LOG_LEVEL    INFO, DEBUG, ...
    MUSICGRAPH_SPOTIFY_CLIENT_ID / MUSICGRAPH_SPOTIFY_REDIRECT_URI   playlist export (OAuth PKCE, no secret)
    MUSICGRAPH_MLFLOW_URI   MLflow tracking URI for `gnn train` and `eval` (unset: no tracking)
    MUSICGRAPH_DENSE_PRECISION  fp32 | int8 | pipeline: how index builds encode documents

Use :func:`get_settings` to read them; tests build :class:`Settings` directly.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    # A checkout sits beside ../shared/data; an installed package falls back to ./data.
    candidate = REPO_ROOT.parent / "shared" / "data"
    if candidate.is_dir():
        return candidate
    return Path.cwd() / "data"


class Settings(BaseSettings):
    """All musicgraph settings. Each field maps to ``MUSICGRAPH_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="MUSICGRAPH_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Directory of the public datasets.")
    home: Path = Field(default_factory=lambda: Path.home() / ".musicgraph", description="State directory.")
    store_name: str = Field(default="default", description="Name of the embedded store under HOME/stores.")
    neo4j_uri: str | None = Field(default=None, description="bolt:// URI; None selects the embedded store.")
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = None
    neo4j_database: str = "neo4j"
    neo4j_batch_size: int = Field(default=5000, ge=1)
    neo4j_heap: str = "2g"
    neo4j_pagecache: str = "1g"
    neo4j_bolt_port: int = 7687
    neo4j_http_port: int = 7474
    embedding_dim: int = Field(default=384, ge=1, description="Dimension of node embeddings (vector index).")
    batch_size: int = Field(default=5000, ge=1, description="Rows per write transaction during ingest.")
    log_level: str = "INFO"
    contact: str = Field(default="musicgraph@example.org", description="Contact sent in API User-Agents.")
    genius_token: str | None = None
    lastfm_api_key: str | None = None
    spotify_client_id: str | None = Field(
        default=None, description="Client id of your Spotify app (PKCE: no client secret) for --spotify NAME."
    )
    spotify_redirect_uri: str = Field(
        default="http://127.0.0.1:8888/callback", description="Redirect URI registered in your Spotify app."
    )
    mlflow_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (e.g. file:///path/mlruns, http://host:5000); `--mlflow` without it "
        "uses the local file store HOME/mlruns.",
    )
    offline: bool = Field(default=False, description="Serve API requests from the cache only.")
    dense_precision: Literal["fp32", "int8", "pipeline"] = Field(
        default="fp32",
        description="How index builds encode documents: ONNX Runtime fp32 (same vectors as the pipeline), "
        "int8 (dynamic quantization: ~2x faster again, top-10 overlap with fp32 0.83, see "
        "benchmarks/bench_dense.py), or the sentence-transformers pipeline.",
    )
    encoder_cache: Path | None = Field(
        default=None,
        description="Where exported query encoders (ONNX) are cached; default $XDG_CACHE_HOME or "
        "~/.cache/musicgraph/encoders (derived copies of installed models, not state: outside HOME).",
    )

    @property
    def store_dir(self) -> Path:
        """Directory of the embedded store."""
        return self.home / "stores" / self.store_name

    @property
    def neo4j_home(self) -> Path:
        """Directory of the locally installed Neo4j server."""
        return self.home / "neo4j"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after changing environment variables, e.g. in tests)."""
    get_settings.cache_clear()
