"""Typed configuration, read from environment variables with the prefix ``MUSICGRAPH_``.

Every setting of musicgraph lives here, so there is one place to look::

    MUSICGRAPH_DATA_DIR     where the public datasets are (default: ../shared/data beside the repository)
    MUSICGRAPH_HOME         where stores, indexes, models and the Neo4j home live (default: ~/.musicgraph)
    MUSICGRAPH_NEO4J_URI    bolt://... of a Neo4j server; unset means the embedded store
    MUSICGRAPH_NEO4J_USER / MUSICGRAPH_NEO4J_PASSWORD
    MUSICGRAPH_LOG_LEVEL    INFO, DEBUG, ...
    MUSICGRAPH_SPOTIFY_CLIENT_ID / MUSICGRAPH_SPOTIFY_REDIRECT_URI   playlist export (OAuth PKCE, no secret)
    MUSICGRAPH_MLFLOW_URI   MLflow tracking URI for `gnn train` and `eval` (unset: no tracking)
    MUSICGRAPH_SERVE_*      the REST service (``musicgraph serve``): host, port, workers, API keys, limits
    MUSICGRAPH_LOCK_TIMEOUT seconds a writer waits for another writer of the same store (default 600)
    MUSICGRAPH_DENSE_PRECISION  fp32 | int8 | pipeline: how index builds encode documents

Use :func:`get_settings` to read them; tests build :class:`Settings` directly.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: How documents are encoded for the dense index (:attr:`Settings.dense_precision`): ONNX Runtime fp32,
#: int8-block or int8, or the sentence-transformers pipeline.
DensePrecision = Literal["fp32", "int8-block", "int8", "pipeline"]

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
    lock_timeout: float = Field(default=600.0, ge=0, description="Seconds a writer waits for another writer of "
                                "the same store or index (musicgraph.graph.locks).")
    dense_precision: DensePrecision = Field(
        default="fp32",
        description="How index builds encode documents: ONNX Runtime fp32 (same vectors as the pipeline), "
        "int8-block (8-bit weights and activations per block of 32: top-10 overlap with fp32 ~0.96), "
        "int8 (dynamic quantization: the fastest, top-10 overlap with fp32 ~0.84), or the "
        "sentence-transformers pipeline; figures in docs/retrieval.md (benchmarks/bench_dense.py).",
    )
    encoder_cache: Path | None = Field(
        default=None,
        description="Where exported query encoders (ONNX) are cached; default $XDG_CACHE_HOME or "
        "~/.cache/musicgraph/encoders (derived copies of installed models, not state: outside HOME).",
    )

    # ------------------------------------------------------------------ the REST service
    serve_host: str = Field(default="127.0.0.1", description="Interface `musicgraph serve` binds to; any "
                            "address other than loopback needs an API key (serve_api_keys).")
    serve_port: int = Field(default=8000, ge=1, le=65535, description="TCP port of `musicgraph serve`.")
    serve_workers: int = Field(default=1, ge=1, le=64, description="Worker processes of `musicgraph serve`.")
    serve_api_keys: SecretStr | None = Field(
        default=None, description="Comma-separated API keys. Writes (catalog changes) and raw Cypher need one; "
        "without any, they are refused. Never logged.")
    serve_keys_for_reads: bool | None = Field(
        default=None, description="Require an API key for reads too (default: only when bound beyond loopback).")
    serve_rate_limit: float = Field(default=50.0, ge=0.0, description="Requests per second per API key (or per "
                                    "client address without a key), per worker; 0 turns the limit off.")
    serve_rate_burst: int = Field(default=100, ge=1, description="Requests a client may send at once before the "
                                  "rate limit applies.")
    serve_max_body: int = Field(default=256 * 1024, ge=1024, description="Largest request body in bytes.")
    serve_max_catalog_body: int = Field(default=16 * 1024 * 1024, ge=1024,
                                        description="Largest body of POST /catalog/changes in bytes.")
    serve_session_ttl: float = Field(default=1800.0, gt=0.0, description="Seconds a chat session lives unused.")
    serve_max_sessions: int = Field(default=10_000, ge=1, description="Chat sessions kept at most (oldest go first).")
    serve_cypher_timeout: float = Field(default=10.0, gt=0.0, le=600.0,
                                        description="Timeout in seconds of POST /cypher queries (Neo4j store).")
    serve_ask_backend: str = Field(default="auto", description="Default generator of /ask, /chat and "
                                   "/v1/chat/completions (auto, template, t5-local, smollm2, seq2seq).")
    serve_backends: str = Field(default="auto,template,t5-local", description="Comma-separated generators requests "
                                "may ask for (/ask, /chat, the chat models); language-model backends such as "
                                "smollm2 take seconds and hundreds of MB per worker, so they are off unless listed.")
    serve_concurrency: int = Field(default=2, ge=1, le=256, description="Searches and answers one worker runs at "
                                   "once (more wait their turn; Python runs one thread at a time anyway, and a "
                                   "background reload needs its share).")
    serve_worker_timeout: int = Field(default=120, ge=5, description="Seconds a worker process may not answer "
                                      "uvicorn's health check before it is restarted (loading the full catalog on a "
                                      "busy machine holds the interpreter for long stretches).")
    serve_reload_interval: float = Field(default=1.0, ge=0.0, description="Seconds between checks whether the "
                                         "store changed (then every worker reloads its indexes in the background).")
    serve_check_interval: float = Field(default=300.0, ge=0.0, description="Seconds between background runs of "
                                        "`musicgraph check` for GET /health after the store changed (0: at start only).")
    serve_warm_up: bool = Field(default=True, description="Load the retriever, graph and encoder at start-up "
                                "(readiness waits for it) instead of on the first request.")

    def allowed_backends(self) -> list[str]:
        """The generator backends the service lets requests choose (``serve_backends``)."""
        return [b.strip() for b in self.serve_backends.split(",") if b.strip()]

    def api_keys(self) -> list[str]:
        """The configured API keys (empty: none)."""
        raw = self.serve_api_keys.get_secret_value() if self.serve_api_keys is not None else ""
        return [k.strip() for k in raw.split(",") if k.strip()]

    @property
    def service_dir(self) -> Path:
        """State of the REST service (chat sessions, locks, metrics of worker processes)."""
        return self.home / "service"

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
