"""The ports: what the engine and the steps need from the world, as Protocols.

Adapters (local, AWS, PostgreSQL) and providers (models) implement these; `darkroom.wiring`
is the one place that picks them from settings. Nothing in `domain` or `steps` imports an
adapter or a provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol, runtime_checkable

from darkroom.domain.analysis import Analysis
from darkroom.domain.events import Event
from darkroom.domain.portraits import Consent
from darkroom.domain.records import (
    Claim,
    DeadLetter,
    DetectionRecord,
    FinishedStep,
    Image,
    ImageStatus,
    Job,
    JobResults,
    Label,
)
from darkroom.domain.review import Review


class BlobStore(Protocol):
    """Bytes by key. Keys are relative, '/'-separated, and never come from a client's file name."""

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None: ...
    def put_file(self, key: str, source: IO[bytes], *, content_type: str | None = None) -> int: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def move(self, src: str, dst: str) -> None: ...
    def url(self, key: str) -> str: ...
    def local_path(self, key: str) -> str | None:
        """A filesystem path for the blob when there is one (lets decoders skip a copy)."""
        ...


@runtime_checkable
class ListableBlobs(Protocol):
    """A blob store whose files can be listed with their age (the local one): what lets the
    housekeeping sweep find what a crash left. S3 buckets use lifecycle rules instead."""

    def listing(self, prefix: str) -> Any: ...
    def remove_listed(self, key: str) -> None: ...


@runtime_checkable
class DirectUploads(Protocol):
    """A blob store clients can upload to directly (S3's presigned POST): `/upload/presign` then
    hands out the store's own form instead of a URL on darkroom."""

    def presigned_post(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_in: int,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]: ...
    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata stored with the blob (what the form's x-amz-meta-* fields set)."""
        ...


class Claims(Protocol):
    """Keys one request holds while it stores bytes (presigned URLs, idempotency keys): taken
    atomically before the body is read, so two concurrent requests never both write."""

    def take(self, key: str, owner: str, expires_at: float, stale_after: float = 900.0) -> bool: ...
    def settle(self, key: str) -> None: ...
    def release(self, key: str) -> None: ...
    def forget_expired(self, now: float | None = None) -> int: ...


@dataclass(frozen=True)
class ImageQuery:
    owner: str
    status: ImageStatus | None = None
    class_name: str | None = None
    uncertain: bool | None = None
    recipe: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    after_id: str | None = None  # cursor: ids sort by creation
    limit: int = 100
    newest_first: bool = False  # then `after_id` pages towards older images


class Catalog(Protocol):
    """Images, step results, detection records and the event outbox."""

    def atomic(self) -> AbstractContextManager[None]:
        """A transaction that other adapters on the same database (the local queue) join."""
        ...

    def add_image(self, image: Image) -> None: ...
    def get_image(self, image_id: str, owner: str | None = None) -> Image | None: ...
    def find_image(self, owner: str, idempotency_key: str) -> Image | None: ...
    def image_ids_starting(self, owner: str, prefix: str, limit: int) -> list[str]:
        """Ids of the owner's images that begin with `prefix` (at most `limit`, in order): what
        the CLI resolves a shortened id with."""
        ...

    def images_by_ids(self, ids: Sequence[str]) -> list[Image]: ...
    def list_images(self, query: ImageQuery) -> list[Image]: ...
    def count_by_status(self, owner: str | None = None) -> dict[str, int]: ...
    def image_counts(self, owner: str | None = None) -> dict[tuple[str, str, bool], int]: ...
    def count_finished_since(self, since: float, owner: str | None = None) -> int: ...
    def fingerprints(self, owner: str) -> list[tuple[str, str | None, str | None]]: ...
    def update_image(self, image_id: str, **fields: Any) -> None: ...
    def delete_image(self, image_id: str) -> None: ...

    def step_outputs(self, job_id: str) -> dict[str, dict[str, Any]]: ...
    def steps_outputs(self, job_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """`step_outputs` of several jobs in one read, by job id (jobs with none left out)."""
        ...

    def finish_steps(
        self,
        job_id: str,
        image_id: str,
        steps: Sequence[FinishedStep],
        image_updates: dict[str, Any] | None = None,
        events: Sequence[Event] = (),
    ) -> bool:
        """Store steps' outputs, their changes to the image and their events in one transaction,
        then the job's own `image_updates` and `events`. A step already stored for this job (by a
        worker whose claim expired) keeps its first result; its repeat changes nothing. False,
        with nothing stored, when the image no longer exists (deleted while its job ran)."""
        ...

    def finish_jobs(self, jobs: Sequence[JobResults]) -> list[bool]:
        """`finish_steps` for several jobs in one transaction and a few statements (group
        commit); for each job, whether its image still existed."""
        ...

    def step_seconds(self) -> dict[str, tuple[int, float]]: ...

    def count_step_failure(self, job_id: str, step: str, error: str) -> int:
        """Record one failure of a step and answer how many there have been."""
        ...

    def step_failures(self, job_id: str) -> dict[str, tuple[int, str]]: ...
    def reset_step_failures(self, job_id: str) -> None: ...

    def orphaned_duplicates(self, limit: int = 100) -> list[Image]:
        """Duplicates whose first image no longer exists (it was deleted while they ran)."""
        ...

    def claim_content(self, owner: str, sha256: str, image_id: str) -> str:
        """Register image_id as holder of this content unless one exists; answer the holder."""
        ...

    def put_detection_record(self, record: DetectionRecord) -> None: ...
    def detection_records(self, image_id: str) -> list[DetectionRecord]: ...

    def add_events(self, events: Sequence[Event]) -> None: ...
    def pending_events(self, limit: int = 100, older_than: float = 0.0) -> list[Event]: ...
    def mark_events_published(self, ids: Sequence[str]) -> None: ...

    def add_analysis(self, analysis: Analysis) -> Analysis:
        """Store a new version of an image's analysis (its `version` is assigned here) and
        answer it. The same analysis id again (a repeated step) keeps the first one stored."""
        ...

    def analyses(self, image_id: str) -> list[Analysis]:
        """Every version of an image's analysis, newest first."""
        ...

    def latest_analysis(self, image_id: str) -> Analysis | None: ...


class ReviewLog(Protocol):
    """People's decisions about images' classes (darkroom.domain.review.Review)."""

    def latest(self, image_id: str) -> Review | None: ...


class DetectionLog(Protocol):
    """The DetectionLogs record per image: the catalog's table locally, DynamoDB on AWS."""

    def put_detection_record(self, record: DetectionRecord) -> None: ...
    def detection_records(self, image_id: str) -> list[DetectionRecord]: ...
    def delete_detection_records(self, image_id: str) -> None: ...


class ConsentLog(Protocol):
    """Visitors' consents (the portraits recipe): the catalogue's tables, or DynamoDB on AWS."""

    def consent(self, owner: str, user_id: str) -> Consent | None: ...


class Queue(Protocol):
    """Jobs with expiring claims (visibility timeout), counted deliveries, a dead-letter queue."""

    def enqueue(self, job: Job, *, delay: float = 0.0) -> None: ...
    def claim(self, worker: str, visibility: float) -> Claim | None: ...
    def claim_many(self, worker: str, visibility: float, limit: int) -> list[Claim]:
        """Up to `limit` ready jobs in one call (SQS: at most 10), each its own claim."""
        ...

    def extend(self, claim: Claim, visibility: float) -> None: ...
    def ack(self, claim: Claim) -> None: ...
    def retry(self, claim: Claim, delay: float, error: str) -> None: ...
    def dead_letter(self, claim: Claim, error: str, traceback: str) -> None: ...
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...
    def replay(self, job_id: str) -> bool: ...
    def depth(self) -> dict[str, int]:
        """Counts of jobs: 'ready', 'delayed', 'in_flight', 'dead'."""
        ...


class EventBus(Protocol):
    def publish(self, events: Sequence[Event]) -> None: ...


class Notifier(Protocol):
    """Tells a person about something: a log line, a webhook, an SNS topic."""

    def notify(self, subject: str, message: dict[str, Any]) -> None: ...


class Detector(Protocol):
    """Finds what a picture shows. `pixels` is an RGB uint8 array (H, W, 3)."""

    name: str

    def detect(self, pixels: Any) -> list[Label]: ...


class Embedder(Protocol):
    """Pictures (and, for models that can, text) to vectors in one space, L2-normalised."""

    name: str
    model: str
    version: str
    dim: int
    threshold: float  # calibrated: copies and look-alikes score above, other pictures below

    @property
    def space(self) -> str:
        """Vectors compare only within one space: provider, model and version."""
        ...

    def embed_images(self, pixels: Sequence[Any]) -> Any:
        """A float32 array (n, dim) for RGB uint8 arrays (H, W, 3)."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> Any | None:
        """A float32 array (n, dim), or None for a model that has no text side."""
        ...


@dataclass(frozen=True)
class VectorHit:
    image_id: str
    score: float  # cosine similarity, -1..1
    # The metadata stored with the vector: a part of a media item (a video's keyframe) names
    # its item (`media_id`) and its moment (`frame_ms`) here.
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)


class VectorIndex(Protocol):
    def upsert(
        self, space: str, owner: str, image_id: str, vector: Any, metadata: dict[str, Any]
    ) -> None: ...
    def delete(self, image_id: str) -> None:
        """The image's vectors, and those of its parts (metadata `media_id` names the image)."""
        ...

    def search(
        self,
        space: str,
        owner: str,
        vector: Any,
        limit: int,
        min_score: float,
        filters: dict[str, str] | None = None,
    ) -> list[VectorHit]: ...
    def vector(self, space: str, image_id: str) -> Any | None: ...


class TextIndex(Protocol):
    """Full text over labels, captions, analysis, tags and file names."""

    def upsert(self, owner: str, image_id: str, text: str, metadata: dict[str, Any]) -> None: ...
    def delete(self, image_id: str) -> None: ...
    def search(
        self, owner: str, query: str, limit: int, filters: dict[str, str] | None = None
    ) -> list[VectorHit]: ...


class FacetIndex(Protocol):
    """What images are filtered and counted by beside a search: family -> values per image
    (colour: red, white; category: dress; brand: ...)."""

    def put(self, owner: str, image_id: str, facets: dict[str, list[str]]) -> None:
        """Replace the image's facets with these."""
        ...

    def delete(self, image_id: str) -> None: ...
    def of(self, owner: str, image_ids: Sequence[str]) -> dict[str, dict[str, set[str]]]:
        """image id -> family -> values, for the owner's images among `image_ids`."""
        ...

    def families(self, owner: str) -> list[str]: ...


@dataclass(frozen=True)
class AnalyzerAnswer:
    result: dict[str, Any]  # valid against the schema it was asked for
    model: str  # as the service named it in its answer
    seconds: float  # every request, retries included
    attempts: int  # answers asked for until one fitted the schema


class Analyzer(Protocol):
    """A vision model asked for a JSON answer held to a schema."""

    name: str  # e.g. "llm:openai"
    model: str

    def analyze(
        self,
        picture: bytes,
        media_type: str,
        prompt: str,
        schema: dict[str, Any],
        accept: dict[str, Any] | None = None,
    ) -> AnalyzerAnswer:
        """`accept`, when given, is the (looser) schema answers are validated against; the model
        is shown `schema`. Raises darkroom.domain.errors.Permanent when retrying cannot help (no
        key, a refused key, answers that never fit the schema); other errors are worth retrying
        later."""
        ...


@dataclass(frozen=True)
class Stylised:
    """A styled portrait made from a face crop."""

    image: bytes  # encoded (JPEG or PNG)
    media_type: str
    provider: str  # e.g. "endpoint:http://...", "blend"
    model_version: str | None
    seconds: float
    attempts: int
    links: tuple[dict[str, str], ...] = ()  # shopping links the model answered with


class Stylist(Protocol):
    """Makes a styled, full-body portrait with the face of a crop (the portraits recipe)."""

    name: str

    def styles(self) -> list[str] | None:
        """The styles it knows, or None when only the model behind it can tell."""
        ...

    def stylise(self, face: bytes, style: str, gender: str | None) -> Stylised:
        """Raises darkroom.domain.errors.Permanent when the model refused the request; other
        errors are worth retrying later."""
        ...


@dataclass(frozen=True)
class TextLine:
    """A line of text read in a picture: `box` is (left, top, width, height), 0-1 of the image,
    `confidence` in percent."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]


class TextReader(Protocol):
    """Reads the text in a picture (OCR). `pixels` is an RGB uint8 array (H, W, 3)."""

    name: str  # provider and model version, e.g. "rapidocr@3.10.0:PP-OCRv6"

    def read(self, pixels: Any) -> list[TextLine]:
        """The lines found, in reading order (top to bottom, then left to right)."""
        ...


class Providers(Protocol):
    """Models by name, each loaded once per process."""

    def detector(self, name: str, options: dict[str, Any]) -> Detector: ...
    def embedder(self, name: str, options: dict[str, Any]) -> Embedder: ...
    def analyzer(self, name: str, options: dict[str, Any]) -> Analyzer: ...
    def stylist(self, name: str, options: dict[str, Any]) -> Stylist: ...
    def reader(self, name: str, options: dict[str, Any]) -> TextReader: ...
