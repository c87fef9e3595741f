"""Request and response bodies. These models are the published schemas (see /openapi.json)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, TypeAdapter

DETAIL_TYPES_EXAMPLE = ["ImageProcessed", "ClassificationUncertain"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


ACCEPTED_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/tiff",
    "image/bmp",
    "image/heic",
    "image/heif",
    "image/avif",
    "video/mp4",  # videos: the media recipe probes them; other recipes reject them
    "video/quicktime",
    "video/webm",
    "application/octet-stream",
)
# Published so clients (and schemathesis) know the choices; the route checks them itself, with
# a 415 that names them.
CONTENT_TYPE = Field(
    min_length=3,
    max_length=100,
    examples=["image/jpeg"],
    json_schema_extra={"enum": list(ACCEPTED_TYPES)},
)
RECIPE_NAME = Field(
    default=None,
    max_length=64,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    description="a recipe by name (built in: pets, collections, catalog, media, portraits; "
    "`darkroom recipes list` shows those installed); default: the server's",
)

# What a client may attach to an upload, by JSON or multipart alike: flat, at most 50 keys.
Metadata = Annotated[dict[str, str | int | float | bool | None], Field(max_length=50)]
METADATA: TypeAdapter[dict[str, str | int | float | bool | None]] = TypeAdapter(Metadata)


class UploadJson(Strict):
    """An upload as JSON: the bytes in base64."""

    filename: str = Field(min_length=1, max_length=255, examples=["rex.jpg"])
    content_type: str = CONTENT_TYPE
    data: str = Field(min_length=1, description="the file's bytes, base64")
    recipe: str | None = RECIPE_NAME
    metadata: Metadata = Field(default_factory=dict)


class Links(BaseModel):
    self: str
    thumbnail: str
    original: str


class Accepted(BaseModel):
    image_id: str
    status: str
    links: Links


class PresignRequest(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = CONTENT_TYPE
    size: int = Field(ge=1, description="bytes the client will send, at most")
    sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    recipe: str | None = RECIPE_NAME


class PresignResponse(BaseModel):
    """PUT: send the bytes to `url` with `headers`. POST (storage on S3): a multipart form to
    `url` with every one of `fields`, then the file as the last part, named `file`."""

    url: str
    method: Literal["PUT", "POST"]
    headers: dict[str, str]
    fields: dict[str, str] | None = None
    expires_at: str
    image_id: str


class LabelOut(BaseModel):
    name: str
    confidence: float
    box: list[float] | None = None
    provider: str | None = None


class KeyframeOut(BaseModel):
    ms: int
    shot: int | None = None
    thumbnail: str  # where it is stored
    url: str  # the keyframe through this API: GET /images/{id}/keyframes/{ms}


class ImageOut(BaseModel):
    """The record of an image: the same fields as `darkroom images show --json`."""

    file: str
    image_id: str
    status: str
    class_: str | None = Field(alias="class")
    confidence: float | None
    uncertain: bool
    labels: list[LabelOut]
    location: str | None
    thumbnail: str | None
    width: int | None
    height: int | None
    sha256: str | None
    error: str | None
    format: str | None
    size_bytes: int
    recipe: str
    owner: str
    duplicate_of: str | None
    filename: str
    created_at: str
    updated_at: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    links: Links
    # A media library item (the media recipe): its kind, its sku, and a video's keyframes.
    media: Literal["image", "video"] | None = None
    sku: str | None = None
    duration_ms: int | None = None
    keyframes: list[KeyframeOut] | None = None

    model_config = ConfigDict(populate_by_name=True)


class StepState(BaseModel):
    status: Literal["done", "pending", "retrying"]
    failures: int = 0
    last_error: str | None = None
    output: dict[str, Any] | None = None


class DetectionOut(BaseModel):
    ImageID: str
    DetectedAnimal: str
    ConfidenceScore: float
    Timestamp: str
    S3Location: str
    ProcessingStatus: str
    FileSize: int
    ImageFormat: str


class AnalysisOut(BaseModel):
    """One version of an image's analysis by a vision model."""

    analysis_id: str
    image_id: str
    version: int = Field(description="1 for the first analysis of the image, then 2, 3, ...")
    provider: str = Field(examples=["llm:openai"])
    model: str
    seconds: float = Field(description="the provider's latency, retries included")
    attempts: int = Field(description="answers asked for until one fitted the schema")
    prompt_hash: str = Field(description="SHA-256 of the prompt")
    schema_hash: str = Field(description="SHA-256 of the JSON schema (canonical JSON)")
    result: dict[str, Any] = Field(description="the answer, valid against that schema")
    created_at: str


class AnalysesOut(BaseModel):
    items: list[AnalysisOut] = Field(description="every version, newest first")


class ImageDetail(ImageOut):
    steps: dict[str, StepState]
    detections: list[DetectionOut]
    analysis: AnalysisOut | None = Field(default=None, description="the latest analysis")


class ImagePage(BaseModel):
    items: list[ImageOut]
    next_cursor: str | None


class NearCopy(BaseModel):
    image_id: str
    bits: int = Field(description="differing bits of the 64-bit perceptual hash")


class LookAlike(BaseModel):
    image_id: str
    score: float = Field(description="cosine similarity of the embeddings, 0-1")


class DuplicatesOut(BaseModel):
    exact: list[str] = Field(description="the same bytes")
    near: list[NearCopy] = Field(description="the same picture, resized or recompressed")
    semantic: list[LookAlike] = Field(description="other pictures that look alike")


class ReprocessRequest(Strict):
    recipe: str | None = RECIPE_NAME


class WebhookCreate(Strict):
    url: AnyHttpUrl = Field(
        description="https, resolving to public addresses only (unless the operator allows a "
        "network or http)"
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="HMAC-SHA256 key for both signatures; a `whsec_` secret (base64 of 24-64 "
        "bytes) is the Standard Webhooks one. None: darkroom makes a `whsec_` secret and "
        "answers it once",
    )
    detail_types: list[str] = Field(
        default_factory=list,
        max_length=50,
        examples=[DETAIL_TYPES_EXAMPLE],
        description="event types to deliver (see the README's table); empty: every type",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    detail_types: list[str]
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str | None = Field(
        default=None, description="the secret darkroom made, when none was sent: shown only here"
    )


class DeliveryOut(BaseModel):
    id: str
    detail_type: str
    state: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    payload: dict[str, Any]


class ReplayResult(BaseModel):
    replayed: int


class DeadLetterOut(BaseModel):
    job_id: str
    image_id: str
    owner: str
    recipe: str
    attempts: int
    error: str
    failed_at: str


class Stats(BaseModel):
    images_by_status: dict[str, int]
    images_by_class: dict[str, int]
    uncertain: int
    queue: dict[str, int]
    throughput_per_minute: float


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]
    queue: dict[str, int] | None = None
    providers: dict[str, str] = Field(
        default_factory=dict, description="model providers: 'ready', or what is missing"
    )


class ErrorOut(BaseModel):
    detail: Any
