"""All settings, one object, from DARKROOM_* environment variables. URLs pick the adapters."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Limits(BaseSettings):
    """What an input may be before it is rejected without being decoded."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_", extra="ignore")

    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="largest original accepted")
    max_pixels: int = Field(default=120_000_000, ge=1, description="width x height at most")
    max_side: int = Field(default=30_000, ge=1, description="longest side at most, in pixels")
    max_decode_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        description="memory one decode may take (from the header, after shrink-on-load)",
    )
    max_json_upload_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="largest JSON (base64) upload body; send bigger files as multipart or "
        "through a presigned URL, which stream to storage",
    )
    # Videos (the media recipe): checked from the container before any frame is decoded.
    max_video_seconds: float = Field(default=3600, gt=0, description="longest video accepted")
    max_video_pixels: int = Field(
        default=4096 * 2304, ge=1, description="width x height of a video frame at most"
    )
    max_video_fps: float = Field(default=240, gt=0, description="highest frame rate accepted")
    video_budget_seconds: float = Field(
        default=240,
        gt=0,
        description="time one video's keyframe pass may take; over it the video fails",
    )


class Serving(BaseSettings):
    """What one client may hold of the HTTP server (darkroom/api/serving.py)."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_", extra="ignore")

    header_timeout_seconds: float = Field(
        default=10, gt=0, description="a request's headers must arrive within this"
    )
    body_idle_timeout_seconds: float = Field(
        default=30, gt=0, description="a body being read may stall this long at most"
    )
    keep_alive_seconds: int = Field(default=5, ge=1, description="idle keep-alive connections")
    connections_per_client: int = Field(
        default=64,
        ge=0,
        description="open connections per client address (0: no cap; raise "
        "it behind a reverse proxy)",
    )
    max_connections: int = Field(
        default=2048, ge=0, description="open connections in all before 503 (0: no cap)"
    )


class Plan(BaseModel):
    """A usage plan, like API Gateway's: a steady rate with a burst, and a quota per period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(gt=0, description="requests per second, steady")
    burst: int = Field(ge=1, description="requests allowed at once above the steady rate")
    quota: int | None = Field(default=None, ge=1, description="requests per period; none: no quota")
    period: Literal["day", "month"] = "day"


DEFAULT_PLANS = {
    "default": Plan(rate=50, burst=100, quota=100_000, period="day"),
    "free": Plan(rate=2, burst=5, quota=1_000, period="day"),
    "unlimited": Plan(rate=1_000_000, burst=1_000_000),
}


def _key(service: str) -> Any:
    return Field(
        default=None,
        validation_alias=AliasChoices(f"DARKROOM_{service}_API_KEY", f"{service}_API_KEY"),
    )


class ApiKeys(BaseSettings):
    """Keys of the model services: DARKROOM_<SERVICE>_API_KEY, else the service's own variable
    (OPENAI_API_KEY...). Secret strings: they never show in a repr, a log line or an error."""

    model_config = SettingsConfigDict(extra="ignore")

    openai: SecretStr | None = _key("OPENAI")
    anthropic: SecretStr | None = _key("ANTHROPIC")
    voyage: SecretStr | None = _key("VOYAGE")


class LlmSettings(BaseSettings):
    """Defaults of the `llm` analyzer; a recipe's options override them."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_LLM_", extra="ignore")

    api: Literal["openai", "anthropic"] | None = Field(
        default=None, description="wire format; none: the service whose key is set"
    )
    model: str | None = None
    base_url: str | None = Field(default=None, description="any OpenAI-compatible server")
    timeout_seconds: float = Field(default=60.0, gt=0)


class EmbeddingServiceSettings(BaseSettings):
    """Defaults of the `http` embeddings provider; a recipe's options override them."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_EMBEDDINGS_", extra="ignore")

    api: Literal["voyage", "openai"] | None = Field(
        default=None, description="response shape; none: the service whose key is set"
    )
    model: str | None = None
    base_url: str | None = None
    dim: int | None = Field(default=None, ge=1)
    threshold: float | None = Field(default=None, ge=-1, le=1)
    timeout_seconds: float = Field(default=30.0, gt=0)


class VectorSearch(BaseSettings):
    """How vector indexes trade recall for speed (defaults measured in bench/search.py)."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_VECTORS_", extra="ignore")

    graph_from: int = Field(
        default=20_000,
        ge=0,
        description="embedded index: vectors per space and owner at which an HNSW graph takes "
        "over from exact search",
    )
    ef_search: int = Field(
        default=128, ge=10, le=1000, description="HNSW candidates kept while searching (both)"
    )


class WebhookSettings(BaseSettings):
    """Where webhooks may go and how many are sent at once (adapters/local/egress.py)."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_WEBHOOK_", extra="ignore")

    allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="networks webhooks may reach although not public (CIDRs, JSON or commas)",
    )
    allow_http: bool = Field(default=False, description="allow http:// webhook URLs")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    senders: int = Field(default=16, ge=1, le=256, description="attempts at once per process")
    per_owner: int = Field(default=4, ge=1, le=256)
    per_subscription: int = Field(default=2, ge=1, le=256)

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _json_or_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = (
                json.loads(text)
                if text.startswith("[")
                else [item.strip() for item in text.split(",") if item.strip()]
            )
        for item in value if isinstance(value, list) else []:
            ipaddress.ip_network(str(item), strict=False)  # a ValueError names the bad one
        return value


class PortraitSettings(BaseSettings):
    """The portraits recipe: its model endpoint, templates, upload URLs and retention."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_PORTRAITS_", extra="ignore")

    endpoint_url: str | None = Field(
        default=None, description="model endpoint speaking the SageMaker contract (HTTP)"
    )
    endpoint_name: str | None = Field(
        default=None, description="SageMaker endpoint name (sagemaker-runtime InvokeEndpoint)"
    )
    endpoint_region: str | None = None
    endpoint_timeout_seconds: float = Field(default=60.0, gt=0)
    templates_dir: Path | None = Field(
        default=None, description="the blend provider's templates: one picture per style"
    )
    upload_ttl_seconds: int = Field(default=300, ge=10, le=3600, description="POST /portraits")
    selfie_retention_days: float = Field(default=7, gt=0, description="selfies and face crops")
    result_retention_days: float = Field(default=30, gt=0, description="styled portraits")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DARKROOM_", extra="ignore")

    home: Path = Field(default=Path("./darkroom-data"), description="data directory")
    storage: str | None = Field(default=None, description="file://DIR or s3://bucket/prefix")
    database: str | None = Field(default=None, description="sqlite:///FILE or postgresql://...")
    queue: str = Field(default="local", description="local (the database) or sqs://QUEUE_NAME")
    bus: str = Field(default="local", description="local (webhooks) or eventbridge://BUS_NAME")
    notifier: str = Field(default="local", description="local (webhook, log) or sns://TOPIC_ARN")
    detection_log: str = Field(
        default="database", description="database (the catalog) or dynamodb://TABLE"
    )
    s3_kms_key_id: str | None = Field(
        default=None, description="KMS key for S3 server-side encryption (default: AES256)"
    )
    owner: str = Field(default="default", description="owner of files ingested from the CLI")
    recipe: str = Field(default="pets", description="recipe used when none is named")
    embedder: str = Field(
        default="descriptor", description="embedding provider searches use (as recipes embed)"
    )
    recipes_dir: Path | None = Field(default=None, description="extra recipe YAML files")
    notify_webhook_url: str | None = Field(default=None, description="POST uncertain results here")
    notify_webhook_secret: str | None = Field(default=None, description="HMAC-SHA256 key")
    host: str = Field(default="127.0.0.1", description="darkroom serve binds here")
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="base URL clients reach the API at (presigned links)"
    )
    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "[::1]"],
        description="Host headers presigned links may name when public_url is unset; any other "
        "Host is refused (a client must not choose where its links point)",
    )
    secret_key: str | None = Field(
        default=None, description="signs presigned URLs; generated into DARKROOM_HOME if unset"
    )
    presign_ttl_seconds: int = Field(default=900, ge=10, le=7 * 24 * 3600)
    plans: dict[str, Plan] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    default_plan: str = "default"
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="non-upload requests")
    worker_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="jobs each worker process runs at once; above 1, pictures bound for one "
        "model (ONNX, CLIP) share its inference calls",
    )
    worker_nice: int = Field(
        default=10, ge=0, le=19, description="CPU priority drop of `serve`'s embedded workers"
    )
    orphan_grace_seconds: float = Field(
        default=3600,
        ge=60,
        description="age after which what a crash left (unrecorded originals, .tmp- files) is "
        "swept by housekeeping",
    )
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: text on a terminal, JSON otherwise; json; text"
    )
    limits: Limits = Field(default_factory=Limits)
    serving: Serving = Field(default_factory=Serving)
    vectors: VectorSearch = Field(default_factory=VectorSearch)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    embedder_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the search embedder (JSON), as in recipes"
    )
    models_mirror: str | None = Field(
        default=None, description="`models pull` fetches NAME/FILE from this base URL instead"
    )
    models_catalog: Path | None = Field(
        default=None, description="YAML or JSON file of your own models for `models pull`"
    )
    text_embedder: str | None = Field(
        default=None,
        description="embedding provider for text queries when not `embedder` (http: analyses)",
    )

    @property
    def models_dir(self) -> Path:
        """Where `darkroom models pull` installs models, one folder each."""
        return self.home / "models"

    @property
    def storage_url(self) -> str:
        return self.storage or f"file://{self.home.resolve()}"

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.home / 'darkroom.db').resolve()}"
