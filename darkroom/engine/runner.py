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
from darkroom.domain.errors import Permanent, RecipeError, Rejected, is_storage_full
from darkroom.domain.events import Event, make_event
from darkroom.domain.records import Claim, Image, ImageStatus
from darkroom.engine import batch, lifecycle, step_task
from darkroom.engine.batch import ClaimGroup, GroupFinish, UnsavedResults
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import CompiledRecipe, CompiledStep, RecipeBook
from darkroom.engine.step_results import (
    FAILED,
    PROCESSED,
    apply_updates,
    event_detail,
    processed_detail,
    shadow_run,
    step_events,
)
from darkroom.engine.step_task import StepRun
from darkroom.ports import Catalog, Queue
from darkroom.settings import Limits
from darkroom.steps.base import StepContext, StepPorts

log = logging.getLogger("darkroom.engine")

STORAGE_FULL_RETRY_SECONDS = 30.0  # a full disk is nobody's file's fault: wait, never give up


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
                output = shadow_run(step, ctx)
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
            announced = step_events(image, step, result)
            updates = dict(result.image)
            if result.finish is not None:
                updates["status"] = result.finish
            elif image.status is not ImageStatus.PROCESSING:
                updates["status"] = ImageStatus.PROCESSING  # with the first result, not alone
            unsaved.add(step.name, result.output, updates, announced, elapsed)
            apply_updates(
                image, updates
            )  # first: a vanished image's cleanup needs the moved location
            due = step.definition.checkpoint or unsaved.seconds >= self.commit_interval
            if due and not unsaved.save():
                return self.end_vanished(claim, image, outcome)
            outputs[step.name] = result.output
            events.extend(announced)
            outcome.steps_run.append(step.name)
            if result.finish is not None:
                outcome.status = result.finish.value
                break
        final = ImageStatus(outcome.status)
        done = make_event(
            "engine", PROCESSED, processed_detail(image, final.value), key=f"{job.id}:done"
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
        self.remove_leftovers(image)
        self.queue.ack(claim)  # a repeat after the final batch's ack changes nothing
        log.info("image deleted while processing", extra={"image_id": image.id})
        outcome.status = "deleted"
        return outcome

    def remove_leftovers(self, image: Image) -> None:
        ports = self.ports
        lifecycle.remove_files(ports.blobs, image, (ports.vectors, ports.text), ports.detections)
        self.catalog.delete_image(image.id)

    def run_step(self, image_id: str, step_name: str) -> StepRun:
        """Run one named step of the image's recipe outside any queue (`engine/step_task.py`)."""
        return step_task.run_step(self, image_id, step_name)

    def fail(self, image_id: str, error: str) -> Image:
        """Mark an image failed from outside the queue (`engine/step_task.py`)."""
        return step_task.fail(self, image_id, error)

    def _reject(
        self,
        claim: Claim,
        image: Image,
        step: CompiledStep,
        reason: str,
        events: list[Event],
        outcome: Outcome,
    ) -> Outcome:
        self.mark_rejected(image, step, reason, events, claim)
        outcome.status, outcome.error = ImageStatus.REJECTED.value, reason
        return outcome

    def mark_rejected(
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
            event_detail(image, status="rejected", step=step.name, error=reason),
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
            event_detail(image, status="failed", error=error, attempts=claim.attempt),
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
