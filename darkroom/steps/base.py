"""What every step sees and returns. A step is a function (context, settings) -> StepResult."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from darkroom.domain.records import Image, ImageStatus, Job
from darkroom.ports import (
    BlobStore,
    Catalog,
    ConsentLog,
    DetectionLog,
    FacetIndex,
    Notifier,
    Providers,
    ReviewLog,
    TextIndex,
    VectorIndex,
)
from darkroom.settings import Limits


class StepSettings(BaseModel):
    """Base of every step's settings: unknown keys in a recipe are errors, not silence."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class StepPorts:
    blobs: BlobStore
    catalog: Catalog
    notifier: Notifier
    providers: Providers
    vectors: VectorIndex
    text: TextIndex
    detections: DetectionLog
    facets: FacetIndex | None = None  # search facets, where the catalog keeps them
    consents: ConsentLog | None = None  # the portraits recipe's consent check
    reviews: ReviewLog | None = None  # people's decisions, which a re-run keeps


@dataclass
class StepContext:
    image: Image
    job: Job
    step: str  # this step's name in the recipe
    outputs: dict[str, dict[str, Any]]  # earlier steps' stored outputs, by step name
    ports: StepPorts
    limits: Limits
    # Artefacts kept in memory between the steps of one run (decoded pixels). Empty after a
    # resume: a step that finds nothing here rebuilds what it needs from stored results.
    scratch: dict[str, Any] = field(default_factory=dict)

    def output_of(self, step: str) -> dict[str, Any]:
        return self.outputs.get(step, {})


@dataclass
class StepResult:
    output: dict[str, Any] = field(default_factory=dict)
    image: dict[str, Any] = field(default_factory=dict)  # fields to set on the image record
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (detail-type, detail)
    finish: ImageStatus | None = None  # end the recipe here with this final status
    # The origin of this step's events (their source is darkroom.<origin>) when not the step's
    # name: a recipe may announce under its own name (`darkroom.catalog`).
    source: str | None = None


S = TypeVar("S", bound=StepSettings)


@dataclass(frozen=True)
class StepDefinition(Generic[S]):
    name: str
    run: Callable[[StepContext, S], StepResult]
    settings: type[S]
    event: str  # the detail-type announced when the step finishes
    needs: tuple[str, ...] = ()  # steps that must come earlier in a recipe
    # Steps whose results this one reads when the recipe has them (the class, the labels, the
    # analysis): re-running one of them (`darkroom reprocess`) re-runs this one too, so what
    # it wrote (search filters, indexed words) never keeps a stale class or description.
    reads: tuple[str, ...] = ()
    description: str = ""
    # A checkpoint changes something earlier steps depend on (organize moves the original), so
    # re-running them after it would fail: the engine saves every result before it runs and
    # its own right after, instead of grouping it with quicker steps.
    checkpoint: bool = False
    # Its effects are kept apart from what is served (an output; a vector in the model's own
    # space), so a new model can run it in shadow beside the live one.
    shadowable: bool = False
