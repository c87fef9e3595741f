"""The catalog's step results on SQL: outputs, failures, and a job's results stored with the
image's changes and events in one transaction; and the content hashes' first holders."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.sql.dml import ReturningInsert

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.catalog_events import EventOutbox
from darkroom.adapters.sql.catalog_rows import CHUNK, UPDATE_IMAGE, updates_row
from darkroom.domain.events import Event
from darkroom.domain.records import FinishedStep, JobResults

# Built once, like catalog.py's hot statements.
_IMAGES_FOR_UPDATE = (
    select(t.images.c.id)
    .where(t.images.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.images.c.id)
    .with_for_update()
)
_STEP_OUTPUTS = select(t.step_results.c.step, t.step_results.c.output).where(
    t.step_results.c.job_id == bindparam("job_id")
)


class StepRecords(EventOutbox):
    """SqlCatalog's steps part; a job's events are stored with its results, by EventOutbox."""

    _insert_step_results: ReturningInsert[Any]

    def step_outputs(self, job_id: str) -> dict[str, dict[str, Any]]:
        with self.db.read() as conn:
            return {
                step: output for step, output in conn.execute(_STEP_OUTPUTS, {"job_id": job_id})
            }

    def steps_outputs(self, job_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        found: dict[str, dict[str, dict[str, Any]]] = {}
        c = t.step_results.c
        with self.db.read() as conn:
            for start in range(0, len(job_ids), CHUNK):
                chunk = list(job_ids[start : start + CHUNK])
                for job_id, step, output in conn.execute(
                    select(c.job_id, c.step, c.output).where(c.job_id.in_(chunk))
                ):
                    found.setdefault(job_id, {})[step] = output
        return found

    def finish_steps(
        self,
        job_id: str,
        image_id: str,
        steps: Sequence[FinishedStep],
        image_updates: dict[str, Any] | None = None,
        events: Sequence[Event] = (),
    ) -> bool:
        return self.finish_jobs([JobResults(job_id, image_id, steps, image_updates, events)])[0]

    def finish_jobs(self, jobs: Sequence[JobResults]) -> list[bool]:
        now = time.time()
        with self.db.atomic() as conn:
            # Locked (on PostgreSQL, in id order) so a concurrent delete waits for this batch
            # or wins first.
            wanted = sorted({job.image_id for job in jobs})
            present = {row.id for row in conn.execute(_IMAGES_FOR_UPDATE, {"ids": wanted})}
            live = [job for job in jobs if job.image_id in present]  # deleted: nothing stored
            rows = [
                {
                    "job_id": job.job_id,
                    "step": item.step,
                    "image_id": job.image_id,
                    "output": item.output,
                    "seconds": item.seconds,
                    "finished_at": now,
                }
                for job in live
                for item in job.steps
            ]
            # One multi-row INSERT: RETURNING names the steps that were new. A step another
            # worker finished first keeps its first result, and its changes and events stand.
            stored = (
                {(row.job_id, row.step) for row in conn.execute(self._insert_step_results, rows)}
                if rows
                else set()
            )
            events: list[Event] = []
            for job in live:
                fresh = [item for item in job.steps if (job.job_id, item.step) in stored]
                merged: dict[str, Any] = {}
                for item in fresh:
                    merged.update(item.image_updates)
                merged.update(job.image_updates or {})
                if merged:
                    conn.execute(UPDATE_IMAGE, {"_image_id": job.image_id, **updates_row(merged)})
                events += [e for item in fresh for e in item.events] + list(job.events)
            self._insert_events(conn, events)
        return [job.image_id in present for job in jobs]

    def step_seconds(self) -> dict[str, tuple[int, float]]:
        """Per step name: how many finished, and the seconds they took in all."""
        c = t.step_results.c
        sql = select(c.step, func.count(), func.sum(c.seconds)).group_by(c.step)
        with self.db.read() as conn:
            return {step: (count, float(total or 0.0)) for step, count, total in conn.execute(sql)}

    def count_step_failure(self, job_id: str, step: str, error: str) -> int:
        table = t.step_failures
        key = and_(table.c.job_id == job_id, table.c.step == step)
        with self.db.atomic() as conn:
            current = conn.execute(select(table.c.failures).where(key)).scalar()
            if current is None:
                conn.execute(
                    insert(table).values(job_id=job_id, step=step, failures=1, last_error=error)
                )
                return 1
            conn.execute(update(table).where(key).values(failures=current + 1, last_error=error))
            return int(current) + 1

    def step_failures(self, job_id: str) -> dict[str, tuple[int, str]]:
        table = t.step_failures
        sql = select(table.c.step, table.c.failures, table.c.last_error).where(
            table.c.job_id == job_id
        )
        with self.db.read() as conn:
            return {step: (failures, error) for step, failures, error in conn.execute(sql)}

    def reset_step_failures(self, job_id: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(delete(t.step_failures).where(t.step_failures.c.job_id == job_id))

    def claim_content(self, owner: str, sha256: str, image_id: str) -> str:
        table = t.contents
        key = and_(table.c.owner == owner, table.c.sha256 == sha256)
        with self.db.atomic() as conn:
            # Insert-or-keep, then read: two workers racing on the same bytes agree on one holder.
            conn.execute(
                self.db.insert_ignoring_conflicts(table).values(
                    owner=owner, sha256=sha256, image_id=image_id
                )
            )
            return str(conn.execute(select(table.c.image_id).where(key)).scalar_one())
