"""Group commit: a job's quick step results committed together, and the jobs of one claim
committed together once the last has run (`Engine.run_batch`).

SQLite has one writer, and a commit per step or per job costs more than a quick job's steps.
A crash re-runs at most what was not yet committed; steps are idempotent, so nothing is done
twice in effect.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from darkroom.domain.events import Event
from darkroom.domain.records import Claim, FinishedStep, Image, JobResults
from darkroom.ports import Catalog

if TYPE_CHECKING:
    from darkroom.engine.runner import Engine, Outcome

CRASHED_RETRY_SECONDS = 10.0


def run_batch(engine: Engine, worker: str, limit: int) -> list[Outcome]:
    """Claim up to `limit` jobs in one call and run them in turn; [] when none is ready.
    A claim that waited long in hand is extended before its job starts. The jobs that end
    well share one final commit."""
    visibility = engine.default_visibility()
    claimed_at = engine.clock()
    claims = engine.queue.claim_many(worker, visibility, limit)
    outcomes: list[Outcome] = []
    group = ClaimGroup.read(engine.catalog, claims) if len(claims) > 1 else None
    finishes = group.finishes if group else []
    for index, claim in enumerate(claims):
        started = engine.clock()
        try:
            if started - claimed_at > visibility / 3:
                engine.queue.extend(claim, visibility)
            outcome = engine.process(claim, group)
        except Exception as exc:
            # What ended before is kept if it can be; the jobs not begun go back at once,
            # the one that raised shortly after (a full disk or a lost database: once they
            # are back, nothing should wait out a visibility timeout).
            with contextlib.suppress(Exception):
                _finish_together(engine, finishes)
            _release(engine, claims[index : index + 1], exc, CRASHED_RETRY_SECONDS)
            _release(engine, claims[index + 1 :], exc)
            raise
        outcome.seconds = engine.clock() - started
        outcomes.append(outcome)
    if finishes:
        try:
            _finish_together(engine, finishes)
        except Exception as exc:
            _release(engine, [f.claim for f in finishes], exc)
            raise
    return outcomes


def _release(engine: Engine, claims: Sequence[Claim], exc: Exception, delay: float = 0.0) -> None:
    for claim in claims:
        with contextlib.suppress(Exception):
            engine.queue.retry(claim, delay, f"released unrun: {exc}")


def _finish_together(engine: Engine, finishes: list[GroupFinish]) -> None:
    stored: list[Event] = []
    with engine.catalog.atomic():
        present = engine.catalog.finish_jobs([f.results() for f in finishes])
        for finish, there in zip(finishes, present, strict=True):
            finish.present = there
            engine.queue.ack(finish.claim)
            stored += [*finish.events, finish.done] if there else finish.events
        later = engine.outbox.within(stored)  # one publish, one "published" mark for all
    engine.outbox.publish(later)
    for finish in finishes:
        if not finish.present:
            engine.end_vanished(finish.claim, finish.image, finish.outcome)


@dataclass
class ClaimGroup:
    """The jobs of one claim: their reads made at once, their final commits made together."""

    images: dict[str, Image]
    outputs: dict[str, dict[str, dict[str, Any]]]
    finishes: list[GroupFinish] = field(default_factory=list)

    @classmethod
    def read(cls, catalog: Catalog, claims: Sequence[Claim]) -> ClaimGroup:
        images = catalog.images_by_ids([claim.job.image_id for claim in claims])
        outputs = catalog.steps_outputs([claim.job.id for claim in claims])
        return cls({image.id: image for image in images}, outputs)


@dataclass
class GroupFinish:
    """A job's final commit, waiting to be made together with others'."""

    claim: Claim
    image: Image
    outcome: Outcome
    unsaved: UnsavedResults
    updates: dict[str, Any] | None
    done: Event
    events: list[Event]
    present: bool = True

    def results(self) -> JobResults:
        job = self.claim.job
        steps, self.unsaved.results = self.unsaved.results, []
        return JobResults(job.id, self.image.id, steps, self.updates, [self.done])


@dataclass
class UnsavedResults:
    """Step results not yet committed, written in one transaction by `save`."""

    catalog: Catalog
    job_id: str
    image_id: str
    results: list[FinishedStep] = field(default_factory=list)
    seconds: float = 0.0

    def add(
        self,
        step: str,
        output: dict[str, Any],
        updates: dict[str, Any],
        events: list[Event],
        seconds: float,
    ) -> None:
        self.results.append(FinishedStep(step, output, updates, tuple(events), seconds))
        self.seconds += seconds

    def save(
        self, image_updates: dict[str, Any] | None = None, events: Sequence[Event] = ()
    ) -> bool:
        """Commit what is pending, with the job's own final changes when it ends. False when
        the image was deleted meanwhile."""
        if not self.results and not image_updates and not events:
            return True
        present = self.catalog.finish_steps(
            self.job_id, self.image_id, self.results, image_updates, events
        )
        self.results = []
        self.seconds = 0.0
        return present
