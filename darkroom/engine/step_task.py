"""One named step run on its own, outside any queue (a Step Functions task: the state machine
holds the order, the retries and the catch), and the catch's final failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from darkroom import metrics
from darkroom.domain.errors import NotFound, RecipeError, Rejected
from darkroom.domain.events import make_event
from darkroom.domain.records import FinishedStep, Image, ImageStatus, Job
from darkroom.engine.step_results import (
    FAILED,
    PROCESSED,
    apply_updates,
    event_detail,
    processed_detail,
    shadow_run,
    step_events,
)
from darkroom.steps.base import StepContext, StepResult

if TYPE_CHECKING:
    from darkroom.engine.runner import Engine

log = logging.getLogger("darkroom.engine")


@dataclass(frozen=True)
class StepRun:
    """One named step run on its own (a Step Functions task): the image as it stands after it."""

    image: Image
    ran: bool  # False: the step had finished before, or the image had reached a final status
    seconds: float = 0.0  # inside the step, when it ran and succeeded


def run_step(engine: Engine, image_id: str, step_name: str) -> StepRun:
    """Run one named step of the image's recipe, outside any queue (a Step Functions task:
    the state machine holds the order, the retries and the catch). Idempotent: a step with
    a stored output, or an image that has reached a final status, runs nothing. A failure
    is counted and raised for the caller's retry policy; bad input ends `rejected`."""
    image = engine.catalog.get_image(image_id)
    if image is None or image.job_id is None:
        raise NotFound(f"no image {image_id!r} (deleted, or never accepted)")
    recipe = engine.recipes.get(image.recipe)
    names = [step.name for step in recipe.steps]
    if step_name not in names:
        raise RecipeError(
            f"recipe {recipe.name!r} has no step {step_name!r}; its steps: {', '.join(names)}"
        )
    outputs = engine.catalog.step_outputs(image.job_id)
    if image.status.final or step_name in outputs:
        return StepRun(image, ran=False)
    index = names.index(step_name)
    step = recipe.steps[index]
    # Only what the step declares it needs must be done: the state machine's Choice may
    # skip a step (notify, for a certain result) that nothing later depends on.
    needed = set(step.definition.needs)
    missing = [
        earlier.name
        for earlier in recipe.steps[:index]
        if earlier.definition.name in needed and earlier.name not in outputs
    ]
    if missing:
        raise RecipeError(f"step {step_name!r} runs after {', '.join(missing)}, not before")
    job = Job(id=image.job_id, image_id=image.id, owner=image.owner, recipe=image.recipe)
    ctx = StepContext(image, job, step.name, outputs, engine.ports, engine.limits, {})
    started = engine.clock()
    try:
        if step.spec.shadow:
            result = StepResult(output=shadow_run(step, ctx))
        else:
            result = step.definition.run(ctx, step.settings)
    except Rejected as exc:
        engine.mark_rejected(image, step, str(exc), [])
        return StepRun(image, ran=True)
    except Exception as exc:
        metrics.STEP_FAILURES.labels(image.recipe, step.name).inc()
        error = f"{step.name}: {type(exc).__name__}: {exc}"
        engine.catalog.count_step_failure(image.job_id, step.name, error)
        raise
    elapsed = engine.clock() - started
    metrics.STEP_SECONDS.labels(image.recipe, step.name).observe(elapsed)
    events = [] if step.spec.shadow else step_events(image, step, result)
    updates = dict(result.image)
    last = index == len(names) - 1
    if result.finish is not None:
        updates["status"] = result.finish
    elif last:
        updates["status"] = ImageStatus.COMPLETED
    elif image.status is not ImageStatus.PROCESSING:
        updates["status"] = ImageStatus.PROCESSING
    apply_updates(image, updates)
    if result.finish is not None or last:
        events.append(
            make_event(
                "engine",
                PROCESSED,
                processed_detail(image, image.status.value),
                key=f"{job.id}:done",
            )
        )
    finished = FinishedStep(step.name, result.output, updates, tuple(events), elapsed)
    with engine.catalog.atomic():
        present = engine.catalog.finish_steps(job.id, image.id, [finished])
        later = engine.outbox.within(events) if present else []
    engine.outbox.publish(later)
    if not present:
        engine.remove_leftovers(image)
        raise NotFound(f"image {image_id!r} was deleted while its step ran")
    return StepRun(image, ran=True, seconds=elapsed)


def fail(engine: Engine, image_id: str, error: str) -> Image:
    """Mark an image failed from outside the queue (a state machine's catch, after its last
    retry), with its ImageFailed event. A repeat changes nothing."""
    image = engine.catalog.get_image(image_id)
    if image is None:
        raise NotFound(f"no image {image_id!r} (deleted, or never accepted)")
    if image.status.final:
        return image
    failed = make_event(
        "engine",
        FAILED,
        event_detail(image, status="failed", error=error),
        key=f"{image.job_id}:failed",
    )
    with engine.catalog.atomic():
        engine.catalog.update_image(image.id, status=ImageStatus.FAILED, error=error)
        engine.catalog.add_events([failed])
        later = engine.outbox.within([failed])
    log.error("image failed", extra={"image_id": image.id, "error": error})
    engine.outbox.publish(later)
    image.status, image.error = ImageStatus.FAILED, error
    return image
