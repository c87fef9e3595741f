"""What a step's run becomes: its events, its changes applied to the image, and a shadow
step's output. Shared by a job's run (`engine/runner.py`) and a single step run on its own
(`engine/step_task.py`)."""

from __future__ import annotations

import logging
from typing import Any

from darkroom.domain.events import Event, make_event
from darkroom.domain.records import Image, ImageStatus
from darkroom.engine.recipes import CompiledStep
from darkroom.steps.base import StepContext, StepResult

log = logging.getLogger("darkroom.engine")

PROCESSED = "ImageProcessed"
FAILED = "ImageFailed"


def step_events(image: Image, step: CompiledStep, result: StepResult) -> list[Event]:
    key = f"{image.job_id}:{step.name}"
    origin = result.source or step.definition.name
    found = [
        make_event(origin, step.definition.event, event_detail(image, **result.output), key=key)
    ]
    for index, (detail_type, detail) in enumerate(result.events):
        found.append(
            make_event(origin, detail_type, event_detail(image, **detail), key=f"{key}:{index}")
        )
    return found


def event_detail(image: Image, **extra: Any) -> dict[str, Any]:
    return {
        "image_id": image.id,
        "owner": image.owner,
        "recipe": image.recipe,
        "job_id": image.job_id,
        **extra,
    }


def processed_detail(image: Image, status: str) -> dict[str, Any]:
    # What most receivers want without a second call: the outcome and the class.
    extra: dict[str, Any] = {
        "class": image.class_name,
        "confidence": image.confidence,
        "uncertain": image.uncertain,
    }
    if image.duplicate_of:
        extra["duplicate_of"] = image.duplicate_of
    return event_detail(image, status=status, **extra)


def shadow_run(step: CompiledStep, ctx: StepContext) -> dict[str, Any]:
    """A model under evaluation: its output is kept, its changes to the image and its events are
    not, and its failure never fails the live pipeline (it is recorded instead)."""
    try:
        output = step.definition.run(ctx, step.settings).output
    except Exception as exc:  # Rejected too: the live steps decide what becomes of the image
        log.warning("shadow step failed", extra={"step": step.name, "error": str(exc)})
        output = {"error": f"{type(exc).__name__}: {exc}"}
    return {**output, "shadow": True}


def apply_updates(image: Image, updates: dict[str, Any]) -> None:
    for name, value in updates.items():
        setattr(image, name, ImageStatus(value) if name == "status" else value)
