"""Request bodies and responses of the REST service (pydantic; they make the OpenAPI document).

The structured request is the library's own :class:`~musicgraph.retrieval.request.Request`, used
directly as the ``request`` field of :class:`SearchBody`, so ``/openapi.json`` shows its schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from musicgraph.retrieval.request import Request

Backend = Literal["auto", "best", "template", "t5-local", "smollm2", "seq2seq"]
SESSION_ID = r"^[A-Za-z0-9_-]{8,64}$"
CHANGE_ID = r"^[A-Za-z0-9._:-]{1,128}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ------------------------------------------------------------------------------ results
class GraphNode(BaseModel):
    """A node of an explanation graph."""

    id: str = Field(description="`Label:key` of the node.")
    label: str = Field(description="Artist, Song, Tag, Genre, Mood, User, Playlist, Album.")
    name: str
    role: Literal["seed", "via", "result", "fact"] = Field(
        description="seed: where a path starts; result: the recommended item; via: on a path; fact: a property "
        "of the result (mood, tag, genre, artist) when no path reaches it.")


class GraphEdge(BaseModel):
    """An edge of an explanation graph, in reading direction (seed towards result)."""

    source: str
    target: str
    type: str = Field(description="Relationship type in the graph (PERFORMED_BY, LISTENED_TO, ...).")
    phrase: str = Field(description="How it reads from source to target: 'performs', 'listened to by', ...")


class ExplanationGraph(BaseModel):
    """The explanation subgraph of one result: its paths (or its facts), nodes and edges."""

    nodes: list[GraphNode] = Field(default_factory=list)
    edges: list[GraphEdge] = Field(default_factory=list)


class Radar(BaseModel):
    """Audio features of the item (0..1 axes) against what the request asked for."""

    axes: list[str]
    item: dict[str, float | None] = Field(description="The item's value per axis (null: unknown).")
    target: dict[str, float] = Field(description="The request's target per axis (only axes it asks about).")
    estimated: bool = Field(default=False, description="The item's features are graph estimates, not measured.")


class ResultOut(BaseModel):
    """One result: the library's ``Result.to_dict()`` plus its explanation graph and radar."""

    rank: int
    kind: str = Field(description="song, artist, album or playlist.")
    id: str = Field(description="The node key (use it with /songs/{id}, /artists/{id}, /explain/{id}).")
    name: str
    artist: str | None = None
    title: str | None = None
    score: float
    scores: dict[str, float] = Field(default_factory=dict, description="Per component (graph, bm25, dense, ...).")
    ranks: dict[str, int] = Field(default_factory=dict)
    paths: list[list[str]] = Field(default_factory=list,
                                   description="Node names and relationship types alternately, seed first.")
    why: list[str] = Field(default_factory=list, description="Each path in words, with the aggregate that makes it "
                           "strong (\"31 % of Madonna's listeners also play Prince (412 of 1,330): ...\").")
    evidence: dict[str, list[str]] = Field(default_factory=dict)
    graph: ExplanationGraph
    radar: Radar
    neo4j_browser: str | None = Field(default=None, description="This path as a query in Neo4j Browser "
                                      "(when Neo4j is the store).")


class RequestView(BaseModel):
    """How the service understood the request."""

    description: str = Field(description="One line: seeds, constraints, targets.")
    structured: bool = Field(description="Given as a structured request (else parsed from free text).")
    parsed: dict[str, Any] = Field(default_factory=dict, description="The parsed or given request as JSON.")


class SearchBody(_Body):
    """``POST /recommend`` and ``POST /retrieve``: free text, or a structured request."""

    query: str | None = Field(default=None, min_length=1, max_length=2000,
                              description="Free text, e.g. 'sad songs like Radiohead, no Coldplay'.")
    request: Request | None = Field(default=None, description="A structured request (seeds, constraints, ...).")
    k: int | None = Field(default=None, ge=1, le=100, description="Results (default: the request's k, else 10).")
    retriever: Literal["graph", "hybrid", "bm25", "dense"] | None = Field(
        default=None, description="Which retriever answers (default: graph for /recommend, hybrid for /retrieve).")

    @model_validator(mode="after")
    def _one_of(self) -> SearchBody:
        if (self.query is None) == (self.request is None):
            raise ValueError("give exactly one of 'query' (free text) or 'request' (structured)")
        return self


class SearchResponse(BaseModel):
    """Results with the request as understood."""

    results: list[ResultOut]
    request: RequestView
    retriever: str = Field(description="The retriever that answered.")
    notes: list[str] = Field(default_factory=list)
    store_version: str
    took_ms: float


# ------------------------------------------------------------------------------ ask / chat
class RecommendationOut(ResultOut):
    """A cited recommendation of an answer."""

    number: int
    reasons: list[str] = Field(default_factory=list, description="Why this song, strongest first.")


class AnswerOut(BaseModel):
    """A grounded answer in words; it cites only the recommendations listed."""

    text: str
    query: str = Field(description="The retrieval query after chat refinement.")
    backend: str
    recommendations: list[RecommendationOut] = Field(default_factory=list)
    cited_ids: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    request: RequestView | None = None
    timings: dict[str, float] = Field(default_factory=dict)


class AskBody(_Body):
    """``POST /ask``."""

    question: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=5, ge=1, le=50)
    backend: Backend | None = Field(default=None, description="Generator (default: the server's setting).")


class ChatBody(_Body):
    """``POST /chat``: one message of a conversation kept on the server."""

    message: str = Field(min_length=1, max_length=2000,
                         description="A request, or a refinement: 'more upbeat', 'no Radiohead', 'why the second one?'")
    session_id: str | None = Field(default=None, pattern=SESSION_ID,
                                   description="From the previous reply; none starts a conversation.")
    k: int = Field(default=5, ge=1, le=50)
    backend: Backend | None = None


class ChatResponse(AnswerOut):
    """An answer in a conversation."""

    session_id: str
    expires_at: float = Field(description="Unix time at which the session ends unless used again.")
    intent: str = Field(description="new, refine or explain.")
    changes: list[str] = Field(default_factory=list, description="What this message changed.")


class SessionDeleted(BaseModel):
    session_id: str
    deleted: bool


# ------------------------------------------------------------------------------ entities
class TagWeight(BaseModel):
    name: str
    weight: float | None = None


class SongBrief(BaseModel):
    id: str
    title: str
    artist: str | None = None
    year: int | None = None


class SongOut(BaseModel):
    """A song with its audio features, artist, album and labels (lyrics are never served)."""

    id: str
    title: str
    artist: str | None = None
    artist_id: str | None = None
    album: str | None = None
    year: int | None = None
    features: dict[str, float] = Field(default_factory=dict)
    features_estimated: bool = False
    genres: list[str] = Field(default_factory=list)
    moods: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    playlists: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)


class ArtistOut(BaseModel):
    """An artist with its tags, genres, listeners and songs."""

    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    tags: list[TagWeight] = Field(default_factory=list)
    genres: list[str] = Field(default_factory=list)
    listeners: int = 0
    songs: list[SongBrief] = Field(default_factory=list)
    similar: list[str] = Field(default_factory=list)


class ExplainOut(BaseModel):
    """Why an item fits a request: the explanation subgraph, the radar and the evidence."""

    id: str
    kind: str
    name: str
    artist: str | None = None
    request: RequestView | None = None
    graph: ExplanationGraph
    radar: Radar
    reasons: list[str] = Field(default_factory=list)
    evidence: dict[str, list[str]] = Field(default_factory=dict)
    matched: bool = Field(description="The item is among the request's answers (else only its facts are shown).")
    neo4j_browser: str | None = None


# ------------------------------------------------------------------------------ cypher
class CypherQueryInfo(BaseModel):
    name: str
    title: str
    description: str
    params: dict[str, Any]


class CypherBody(_Body):
    """``POST /cypher/{name}``: parameters over the query's defaults."""

    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0, le=600, description="Seconds (capped by the server's).")
    limit: int = Field(default=200, ge=1, le=5000, description="Rows returned at most.")


class RawCypherBody(CypherBody):
    """``POST /cypher``: raw Cypher (API key required; runs read-only)."""

    query: str = Field(min_length=1, max_length=20000)


class CypherOut(BaseModel):
    name: str | None = None
    rows: list[dict[str, Any]]
    row_count: int
    truncated: bool


# ------------------------------------------------------------------------------ catalog
class CatalogChangesBody(_Body):
    """``POST /catalog/changes`` as JSON (or send the JSONL of ``musicgraph catalog add`` with
    ``Content-Type: application/x-ndjson`` and ``?op=...&change_id=...``)."""

    change_id: str = Field(pattern=CHANGE_ID, description="Client-chosen id: the same id applies once.")
    op: Literal["add", "update", "delete"]
    changes: list[dict[str, Any]] = Field(min_length=1, max_length=10000,
                                          description="Change records, as the lines of a catalog JSONL file.")


class CatalogChangesOut(BaseModel):
    change_id: str
    op: str
    replayed: bool = Field(description="This change id was applied before; nothing was changed now.")
    changes: dict[str, Any] = Field(description="Nodes added/updated/deleted per label, relationships.")
    store_version: str
    indexes: dict[str, Any] = Field(default_factory=dict, description="Per derived index: what its update did.")
    index_errors: dict[str, str] = Field(default_factory=dict)


# ------------------------------------------------------------------------------ health
class IndexState(BaseModel):
    name: str
    state: Literal["current", "stale", "missing", "loading", "error"]
    detail: str = ""


class HealthOut(BaseModel):
    status: Literal["ok", "starting", "degraded"]
    live: bool
    ready: bool
    worker: int = Field(description="Process id of the worker that answered.")
    store: dict[str, str]
    serving_version: str | None = Field(description="Store version the worker's indexes were loaded for.")
    indexes: list[IndexState]
    stale: list[str] = Field(default_factory=list, description="Indexes `musicgraph check` finds stale.")
    check: dict[str, Any] = Field(default_factory=dict)
    uptime_s: float


# ------------------------------------------------------------------------------ OpenAI / Ollama
class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return " ".join(p.text for p in self.content if p.text)
        return ""


class ChatCompletionBody(BaseModel):
    """OpenAI ``POST /v1/chat/completions`` (the fields musicgraph uses; others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int
    message: CompletionMessage
    finish_reason: Literal["stop", "length"]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class MusicgraphExtra(BaseModel):
    """The cited songs behind an OpenAI-style answer (clients that do not know it ignore it)."""

    recommendations: list[RecommendationOut]
    cited_ids: list[str]
    query: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    musicgraph: MusicgraphExtra


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "musicgraph"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OllamaChatBody(BaseModel):
    """Ollama ``POST /api/chat``."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = True


class OllamaMessage(BaseModel):
    role: str
    content: str


class OllamaChatResponse(BaseModel):
    model: str
    created_at: str
    message: OllamaMessage
    done: bool
    done_reason: str | None = None


class OllamaModel(BaseModel):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: dict[str, Any] = Field(default_factory=dict)


class OllamaTags(BaseModel):
    models: list[OllamaModel]
