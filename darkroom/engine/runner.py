"""Runs one claimed job: the recipe's steps in order, resuming after the last finished one.

Exactly-once effects over at-least-once delivery: a step's output, its changes to the image and
its events are stored in one transaction, and a step that has an output is never run again for
that job. A step whose side effect lands outside the database (a file move, a notification)
makes that effect safe to repeat, since a crash can fall between the effect and its record.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from darkroom import metrics
from darkroom.domain.errors import NotFound, Permanent, RecipeError, Rejected, is_storage_full
from darkroom.domain.events import Event, make_event
from darkroom.domain.records import Claim, FinishedStep, Image, ImageStatus, Job
from darkroom.engine import batch, lifecycle
from darkroom.engine.batch import ClaimGroup, GroupFinish, UnsavedResults
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import CompiledRecipe, CompiledStep, RecipeBook
from darkroom.ports import Catalog, Queue
from darkroom.settings import Limits
from darkroom.steps.base import StepContext, StepPorts, StepResult

log = logging.getLogger("darkroom.engine")

PROCESSED = "ImageProcessed"
STORAGE_FULL_RETRY_SECONDS = 30.0  # a full disk is nobody's file's fault: wait, never give up
FAILED = "ImageFailed"


@dataclass
class Outcome:
    image_id: str
    status: str  # a final ImageStatus, "retry", or "skipped"
    steps_run: list[str] = field(default_factory=list)
    step_seconds: float = 0.0  # inside steps
    seconds: float = 0.0  # the whole job in this worker, claim to ack
    error: str | None = None
    failed_step: str | None = None  # the step whose failure ended this run (retry or DLQ)
    seconds_by_step: dict[str, float] = field(default_factory=dict)  # steps that succeeded


@dataclass(frozen=True)
class StepRun:
    """One named step run on its own (a Step Functions task): the image as it stands after it."""

    image: Image
    ran: bool  # False: the step had finished before, or the image had reached a final status
    seconds: float = 0.0  # inside the step, when it ran and succeeded


@dataclass
class Engine:
    catalog: Catalog
    queue: Queue
    outbox: Outbox
    ports: StepPorts
    recipes: RecipeBook
    limits: Limits
    clock: Callable[[], float] = time.monotonic
    # Results of quick steps are committed together once this much step time has gone by (and
    # always with the job's end). A crash re-runs at most this much work; steps are idempotent,
    # so nothing is done twice in effect, and a five-step job costs two commits, not seven.
    commit_interval: float = 0.1

    def run_next(self, worker: str) -> Outcome | None:
        """Claim one job and run it; None when no job is ready."""
        started = self.clock()
        claim = self.queue.claim(worker, visibility=self.default_visibility())
        if claim is None:
            return None
        outcome = self.process(claim)
        outcome.seconds = self.clock() - started
        return outcome

    def run_batch(self, worker: str, limit: int) -> list[Outcome]:
        """Claim up to `limit` jobs in one call and run them in turn, their final commits made
        together (group commit, `engine/batch.py`); [] when none is ready."""
        return batch.run_batch(self, worker, limit)

    def default_visibility(self) -> float:
        return max((r.recipe.visibility_timeout_seconds for r in self.recipes.all()), default=120.0)

    def process(self, claim: Claim, group: ClaimGroup | None = None) -> Outcome:
        """Run one claimed job. In a `group` (`run_batch`), its reads were made for the whole
        claim, and a job that ends well leaves its final commit there, to be made together."""
        job = claim.job
        image = group.images.get(job.image_id) if group else self.catalog.get_image(job.image_id)
        if image is None or image.job_id != job.id or image.status.final:
            # Deleted, reprocessed under a newer job, or already finished: a redelivery.
            self.queue.ack(claim)
            return Outcome(job.image_id, "skipped")
        try:
            recipe = self.recipes.get(job.recipe)
        except RecipeError as exc:
            return self._dead_letter(claim, image, f"recipe: {exc}", "", [])
        if claim.attempt > recipe.recipe.max_deliveries:
            error = f"delivered {claim.attempt} times without finishing (a worker died each time)"
            return self._dead_letter(claim, image, error, "", [])
        return self._run(claim, image, recipe, group)

    def _run(
        self, claim: Claim, image: Image, recipe: CompiledRecipe, group: ClaimGroup | None = None
    ) -> Outcome:
        job = claim.job
        visibility = recipe.recipe.visibility_timeout_seconds
        outputs = group.outputs.get(job.id, {}) if group else self.catalog.step_outputs(job.id)
        unsaved = UnsavedResults(self.catalog, job.id, image.id)
        outcome = Outcome(image.id, ImageStatus.COMPLETED.value)
        events: list[Event] = []
        scratch: dict[str, Any] = {}
        extended_at = self.clock()
        for step in recipe.steps:
            if step.name in outputs:
                continue
            if self.clock() - extended_at > visibility / 3:
                self.queue.extend(claim, visibility)
                extended_at = self.clock()
            if step.definition.checkpoint and not unsaved.save():
                return self.end_vanished(claim, image, outcome)
            ctx = StepContext(image, job, step.name, outputs, self.ports, self.limits, scratch)
            started = self.clock()
            if step.spec.shadow:
                output = _shadow_run(step, ctx)
                elapsed = self.clock() - started
                unsaved.add(step.name, output, {}, [], elapsed)
                outputs[step.name] = output
                outcome.steps_run.append(step.name)
                continue
            try:
                result = step.definition.run(ctx, step.settings)
            except Rejected as exc:
                outcome.step_seconds += self.clock() - started
                unsaved.save()
                return self._reject(claim, image, step, str(exc), events, outcome)
            except Exception as exc:
                outcome.step_seconds += self.clock() - started
                unsaved.save()
                return self._failed_attempt(claim, image, recipe, step, exc, events, outcome)
            elapsed = self.clock() - started
            outcome.step_seconds += elapsed
            outcome.seconds_by_step[step.name] = elapsed
            metrics.STEP_SECONDS.labels(job.recipe, step.name).observe(elapsed)
            step_events = self._step_events(image, step, result)
            updates = dict(result.image)
            if result.finish is not None:
                updates["status"] = result.finish
            elif image.status is not ImageStatus.PROCESSING:
                updates["status"] = ImageStatus.PROCESSING  # with the first result, not alone
            unsaved.add(step.name, result.output, updates, step_events, elapsed)
            _apply(image, updates)  # first: a vanished image's cleanup needs the moved location
            due = step.definition.checkpoint or unsaved.seconds >= self.commit_interval
            if due and not unsaved.save():
                return self.end_vanished(claim, image, outcome)
            outputs[step.name] = result.output
            events.extend(step_events)
            outcome.steps_run.append(step.name)
            if result.finish is not None:
                outcome.status = result.finish.value
                break
        final = ImageStatus(outcome.status)
        done = make_event(
            "engine", PROCESSED, self._processed(image, final.value), key=f"{job.id}:done"
        )
        closing = {"status": final} if final is ImageStatus.COMPLETED else None
        if group is not None:
            group.finishes.append(
                GroupFinish(claim, image, outcome, unsaved, closing, done, events)
            )
            return outcome
        with self.catalog.atomic():
            present = unsaved.save(closing, events=[done])
            self.queue.ack(claim)
            later = self.outbox.within([*events, done] if present else events)
        self.outbox.publish(later)
        if not present:
            return self.end_vanished(claim, image, outcome)
        return outcome

    def end_vanished(self, claim: Claim, image: Image, outcome: Outcome) -> Outcome:
        """The image was deleted while its job ran: remove what the steps made since (files,
        index entries, records) instead of leaving them behind, and end the job."""
        self._remove_leftovers(image)
        self.queue.ack(claim)  # a repeat after the final batch's ack changes nothing
        log.info("image deleted while processing", extra={"image_id": image.id})
        outcome.status = "deleted"
        return outcome

    def _remove_leftovers(self, image: Image) -> None:
        ports = self.ports
        lifecycle.remove_files(ports.blobs, image, (ports.vectors, ports.text), ports.detections)
        self.catalog.delete_image(image.id)

    def run_step(self, image_id: str, step_name: str) -> StepRun:
        """Run one named step of the image's recipe, outside any queue (a Step Functions task:
        the state machine holds the order, the retries and the catch). Idempotent: a step with
        a stored output, or an image that has reached a final status, runs nothing. A failure
        is counted and raised for the caller's retry policy; bad input ends `rejected`."""
        image = self.catalog.get_image(image_id)
        if image is None or image.job_id is None:
            raise NotFound(f"no image {image_id!r} (deleted, or never accepted)")
        recipe = self.recipes.get(image.recipe)
        names = [step.name for step in recipe.steps]
        if step_name not in names:
            raise RecipeError(
                f"recipe {recipe.name!r} has no step {step_name!r}; its steps: {', '.join(names)}"
            )
        outputs = self.catalog.step_outputs(image.job_id)
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
        ctx = StepContext(image, job, step.name, outputs, self.ports, self.limits, {})
        started = self.clock()
        try:
            if step.spec.shadow:
                result = StepResult(output=_shadow_run(step, ctx))
            else:
                result = step.definition.run(ctx, step.settings)
        except Rejected as exc:
            self._mark_rejected(image, step, str(exc), [])
            return StepRun(image, ran=True)
        except Exception as exc:
            metrics.STEP_FAILURES.labels(image.recipe, step.name).inc()
            error = f"{step.name}: {type(exc).__name__}: {exc}"
            self.catalog.count_step_failure(image.job_id, step.name, error)
            raise
        elapsed = self.clock() - started
        metrics.STEP_SECONDS.labels(image.recipe, step.name).observe(elapsed)
        events = [] if step.spec.shadow else self._step_events(image, step, result)
        updates = dict(result.image)
        last = index == len(names) - 1
        if result.finish is not None:
            updates["status"] = result.finish
        elif last:
            updates["status"] = ImageStatus.COMPLETED
        elif image.status is not ImageStatus.PROCESSING:
            updates["status"] = ImageStatus.PROCESSING
        _apply(image, updates)
        if result.finish is not None or last:
            events.append(
                make_event(
                    "engine",
                    PROCESSED,
                    self._processed(image, image.status.value),
                    key=f"{job.id}:done",
                )
            )
        finished = FinishedStep(step.name, result.output, updates, tuple(events), elapsed)
        with self.catalog.atomic():
            present = self.catalog.finish_steps(job.id, image.id, [finished])
            later = self.outbox.within(events) if present else []
        self.outbox.publish(later)
        if not present:
            self._remove_leftovers(image)
            raise NotFound(f"image {image_id!r} was deleted while its step ran")
        return StepRun(image, ran=True, seconds=elapsed)

    def fail(self, image_id: str, error: str) -> Image:
        """Mark an image failed from outside the queue (a state machine's catch, after its last
        retry), with its ImageFailed event. A repeat changes nothing."""
        image = self.catalog.get_image(image_id)
        if image is None:
            raise NotFound(f"no image {image_id!r} (deleted, or never accepted)")
        if image.status.final:
            return image
        failed = make_event(
            "engine",
            FAILED,
            self._detail(image, status="failed", error=error),
            key=f"{image.job_id}:failed",
        )
        with self.catalog.atomic():
            self.catalog.update_image(image.id, status=ImageStatus.FAILED, error=error)
            self.catalog.add_events([failed])
            later = self.outbox.within([failed])
        log.error("image failed", extra={"image_id": image.id, "error": error})
        self.outbox.publish(later)
        image.status, image.error = ImageStatus.FAILED, error
        return image

    def _step_events(self, image: Image, step: CompiledStep, result: StepResult) -> list[Event]:
        key = f"{image.job_id}:{step.name}"
        origin = result.source or step.definition.name
        found = [
            make_event(origin, step.definition.event, self._detail(image, **result.output), key=key)
        ]
        for index, (detail_type, detail) in enumerate(result.events):
            found.append(
                make_event(origin, detail_type, self._detail(image, **detail), key=f"{key}:{index}")
            )
        return found

    def _detail(self, image: Image, **extra: Any) -> dict[str, Any]:
        return {
            "image_id": image.id,
            "owner": image.owner,
            "recipe": image.recipe,
            "job_id": image.job_id,
            **extra,
        }

    def _processed(self, image: Image, status: str) -> dict[str, Any]:
        # What most receivers want without a second call: the outcome and the class.
        extra: dict[str, Any] = {
            "class": image.class_name,
            "confidence": image.confidence,
            "uncertain": image.uncertain,
        }
        if image.duplicate_of:
            extra["duplicate_of"] = image.duplicate_of
        return self._detail(image, status=status, **extra)

    def _reject(
        self,
        claim: Claim,
        image: Image,
        step: CompiledStep,
        reason: str,
        events: list[Event],
        outcome: Outcome,
    ) -> Outcome:
        self._mark_rejected(image, step, reason, events, claim)
        outcome.status, outcome.error = ImageStatus.REJECTED.value, reason
        return outcome

    def _mark_rejected(
        self,
        image: Image,
        step: CompiledStep,
        reason: str,
        events: list[Event],
        claim: Claim | None = None,
    ) -> None:
        failed = make_event(
            step.definition.name,
            FAILED,
            self._detail(image, status="rejected", step=step.name, error=reason),
            key=f"{image.job_id}:rejected",
        )
        with self.catalog.atomic():
            self.catalog.update_image(image.id, status=ImageStatus.REJECTED, error=reason)
            self.catalog.add_events([failed])
            if claim is not None:
                self.queue.ack(claim)
            later = self.outbox.within([*events, failed])
        log.info(
            "image rejected", extra={"image_id": image.id, "step": step.name, "reason": reason}
        )
        self.outbox.publish(later)
        image.status, image.error = ImageStatus.REJECTED, reason

    def _failed_attempt(
        self,
        claim: Claim,
        image: Image,
        recipe: CompiledRecipe,
        step: CompiledStep,
        exc: Exception,
        events: list[Event],
        outcome: Outcome,
    ) -> Outcome:
        error = f"{step.name}: {type(exc).__name__}: {exc}"
        metrics.STEP_FAILURES.labels(claim.job.recipe, step.name).inc()
        outcome.failed_step = step.name
        if is_storage_full(exc):  # not counted: the job waits for space, it is not dead-lettered
            self.queue.retry(claim, STORAGE_FULL_RETRY_SECONDS, error)
            log.error(
                "storage is full; the job waits", extra={"image_id": image.id, "error": error}
            )
            self.outbox.publish(events)
            outcome.status, outcome.error = "retry", error
            return outcome
        failures = self.catalog.count_step_failure(claim.job.id, step.name, error)
        if failures >= step.retry.max_attempts or isinstance(exc, Permanent):
            outcome.error = error
            return self._dead_letter(claim, image, error, traceback.format_exc(), events, outcome)
        delay = step.retry.delay(failures)
        self.queue.retry(claim, delay, error)
        log.warning(
            "step failed, will retry",
            extra={
                "image_id": image.id,
                "step": step.name,
                "failures": failures,
                "delay": round(delay, 3),
                "error": error,
            },
        )
        self.outbox.publish(events)
        outcome.status, outcome.error = "retry", error
        return outcome

    def _dead_letter(
        self,
        claim: Claim,
        image: Image,
        error: str,
        trace: str,
        events: list[Event],
        outcome: Outcome | None = None,
    ) -> Outcome:
        failed = make_event(
            "engine",
            FAILED,
            self._detail(image, status="failed", error=error, attempts=claim.attempt),
            key=f"{claim.job.id}:failed:{claim.receipt}",
        )
        with self.catalog.atomic():
            self.catalog.update_image(image.id, status=ImageStatus.FAILED, error=error)
            self.catalog.add_events([failed])
            self.queue.dead_letter(claim, error, trace)
            later = self.outbox.within([*events, failed])
        log.error(
            "job dead-lettered",
            extra={"image_id": image.id, "job_id": claim.job.id, "error": error},
        )
        self.outbox.publish(later)
        outcome = outcome or Outcome(image.id, ImageStatus.FAILED.value)
        outcome.status, outcome.error = ImageStatus.FAILED.value, error
        return outcome


def _shadow_run(step: CompiledStep, ctx: StepContext) -> dict[str, Any]:
    """A model under evaluation: its output is kept, its changes to the image and its events are
    not, and its failure never fails the live pipeline (it is recorded instead)."""
    try:
        output = step.definition.run(ctx, step.settings).output
    except Exception as exc:  # Rejected too: the live steps decide what becomes of the image
        log.warning("shadow step failed", extra={"step": step.name, "error": str(exc)})
        output = {"error": f"{type(exc).__name__}: {exc}"}
    return {**output, "shadow": True}


def _apply(image: Image, updates: dict[str, Any]) -> None:
    for name, value in updates.items():
        setattr(image, name, ImageStatus(value) if name == "status" else value)
