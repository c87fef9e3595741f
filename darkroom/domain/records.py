"""The records darkroom keeps: images, jobs, labels, detection logs and events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # events import records (utcnow)
    from darkroom.domain.events import Event


def utcnow() -> datetime:
    return datetime.now(UTC)


class ImageStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {ImageStatus.COMPLETED, ImageStatus.REJECTED, ImageStatus.DUPLICATE, ImageStatus.FAILED}
)


@dataclass(frozen=True)
class Label:
    """Something a provider saw, with its confidence in percent (0-100)."""

    name: str
    confidence: float
    box: tuple[float, float, float, float] | None = (
        None  # left, top, width, height; 0-1 of the image
    )
    provider: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "confidence": round(self.confidence, 2)}
        if self.box is not None:
            data["box"] = [round(v, 4) for v in self.box]
        if self.provider:
            data["provider"] = self.provider
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Label:
        box = data.get("box")
        return cls(
            name=str(data["name"]),
            confidence=float(data["confidence"]),
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
            provider=str(data.get("provider", "")),
        )


@dataclass
class Image:
    """One accepted picture and what the pipeline has learned about it so far."""

    id: str
    owner: str
    recipe: str
    filename: str
    location: str  # blob key of the original, wherever it is filed now
    status: ImageStatus = ImageStatus.QUEUED
    source: str = ""  # where it came from: a path for folder ingest, "upload" for HTTP
    idempotency_key: str | None = None
    job_id: str | None = None
    content_type: str | None = None
    size_bytes: int = 0
    sha256: str | None = None
    phash: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    class_name: str | None = None
    confidence: float | None = None
    uncertain: bool = False
    labels: list[Label] = field(default_factory=list)
    thumbnail: str | None = None
    duplicate_of: str | None = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


# Fields a step may set on the image record through StepResult.image_updates.
IMAGE_UPDATABLE_FIELDS = frozenset(
    {
        "status",
        "location",
        "sha256",
        "phash",
        "format",
        "width",
        "height",
        "class_name",
        "confidence",
        "uncertain",
        "labels",
        "thumbnail",
        "duplicate_of",
        "error",
        "content_type",
        "size_bytes",
        "metadata",  # replaced whole: a step that adds keys (client, sku, media) merges first
    }
)


@dataclass(frozen=True)
class Job:
    """A request to run a recipe over one image. The same job survives retries and replays."""

    id: str
    image_id: str
    owner: str
    recipe: str


@dataclass(frozen=True)
class Claim:
    """A job held by one worker until `visible_at`; `attempt` counts deliveries, from 1."""

    job: Job
    receipt: str
    attempt: int


@dataclass(frozen=True)
class FinishedStep:
    """A step's result as the catalog stores it: its output, its changes to the image and the
    events it announces."""

    step: str
    output: dict[str, Any]
    image_updates: dict[str, Any] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class JobResults:
    """One job's results for `Catalog.finish_jobs`: as the arguments of `finish_steps`."""

    job_id: str
    image_id: str
    steps: Sequence[FinishedStep]
    image_updates: dict[str, Any] | None = None
    events: Sequence[Event] = ()


@dataclass(frozen=True)
class DeadLetter:
    job: Job
    error: str
    traceback: str
    attempts: int
    failed_at: datetime


@dataclass(frozen=True)
class DetectionRecord:
    """One row of the DetectionLogs table the pets system keeps per image."""

    image_id: str
    detected_animal: str
    confidence_score: float
    timestamp: datetime
    s3_location: str
    processing_status: str
    file_size: int
    image_format: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ImageID": self.image_id,
            "DetectedAnimal": self.detected_animal,
            "ConfidenceScore": round(self.confidence_score, 2),
            "Timestamp": self.timestamp.isoformat(),
            "S3Location": self.s3_location,
            "ProcessingStatus": self.processing_status,
            "FileSize": self.file_size,
            "ImageFormat": self.image_format,
        }
