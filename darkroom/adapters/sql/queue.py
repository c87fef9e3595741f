"""A durable job queue in the database: claims with a visibility timeout, like SQS.

A claim hides the job until `visible_at`; a worker that dies simply stops extending it and the
job reappears. Every claim gets a new receipt, and ack/retry/dead-letter only act on the current
receipt, so a worker whose claim expired cannot ack away another worker's run.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.catalog_rows import moment
from darkroom.adapters.sql.database import Database
from darkroom.domain.records import Claim, DeadLetter, Job

READY = "ready"
DEAD = "dead"


def _job(data: Any) -> Job:
    return Job(id=data.id, image_id=data.image_id, owner=data.owner, recipe=data.recipe)


_jobs = t.jobs
_CURRENT = and_(_jobs.c.id == bindparam("b_job_id"), _jobs.c.receipt == bindparam("b_receipt"))
# Built once (see catalog.py): the claim is the hottest statement there is.
_CLAIM = (
    update(_jobs)
    .where(
        _jobs.c.id.in_(
            select(_jobs.c.id)
            .where(and_(_jobs.c.state == READY, _jobs.c.visible_at <= bindparam("now")))
            .order_by(_jobs.c.visible_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)  # PostgreSQL: workers skip each other's rows
        )
    )
    .values(
        visible_at=bindparam("until"),
        receipt=bindparam("new_receipt"),
        claimed_by=bindparam("worker"),
        attempts=_jobs.c.attempts + 1,
    )
    .returning(_jobs.c.id, _jobs.c.image_id, _jobs.c.owner, _jobs.c.recipe, _jobs.c.attempts)
)
_ACK = _jobs.delete().where(_CURRENT)
_EXTEND = update(_jobs).where(_CURRENT).values(visible_at=bindparam("until"))
# Retry and dead-letter: the columns to set come with the parameters.
_RELEASE = update(_jobs).where(_CURRENT)


def _receipt(claim: Claim) -> dict[str, str]:
    """Parameters of _CURRENT: only the claim holding the current receipt may act on the job."""
    return {"b_job_id": claim.job.id, "b_receipt": claim.receipt}


class SqlQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, job: Job, *, delay: float = 0.0) -> None:
        now = time.time()
        with self.db.atomic() as conn:
            exists = conn.execute(select(t.jobs.c.id).where(t.jobs.c.id == job.id)).first()
            if exists is not None:
                return  # enqueueing the same job twice is one job
            conn.execute(
                insert(t.jobs).values(
                    id=job.id,
                    image_id=job.image_id,
                    owner=job.owner,
                    recipe=job.recipe,
                    state=READY,
                    visible_at=now + delay,
                    attempts=0,
                    enqueued_at=now,
                )
            )

    def claim(self, worker: str, visibility: float) -> Claim | None:
        claims = self.claim_many(worker, visibility, 1)
        return claims[0] if claims else None

    def claim_many(self, worker: str, visibility: float, limit: int) -> list[Claim]:
        """One statement claims them all. They share a receipt, which is safe: a receipt only
        acts together with its job's id."""
        now = time.time()
        receipt = uuid.uuid4().hex
        params = {
            "now": now,
            "until": now + visibility,
            "new_receipt": receipt,
            "worker": worker,
            "limit": max(1, limit),
        }
        with self.db.atomic() as conn:
            rows = conn.execute(_CLAIM, params).all()
        return [Claim(job=_job(row), receipt=receipt, attempt=int(row.attempts)) for row in rows]

    def extend(self, claim: Claim, visibility: float) -> None:
        with self.db.atomic() as conn:
            conn.execute(
                _EXTEND,
                {**_receipt(claim), "until": time.time() + visibility},
            )

    def ack(self, claim: Claim) -> None:
        with self.db.atomic() as conn:
            conn.execute(_ACK, _receipt(claim))

    def retry(self, claim: Claim, delay: float, error: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(
                _RELEASE,
                {
                    **_receipt(claim),
                    "visible_at": time.time() + delay,
                    "last_error": error,
                    "receipt": None,
                },
            )

    def dead_letter(self, claim: Claim, error: str, traceback: str) -> None:
        with self.db.atomic() as conn:
            conn.execute(
                _RELEASE,
                {
                    **_receipt(claim),
                    "state": DEAD,
                    "last_error": error,
                    "traceback": traceback,
                    "failed_at": time.time(),
                    "receipt": None,
                },
            )

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        jobs = t.jobs
        sql = select(jobs).where(jobs.c.state == DEAD).order_by(jobs.c.failed_at).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(sql).all()
        return [
            DeadLetter(
                job=_job(row),
                error=row.last_error or "",
                traceback=row.traceback or "",
                attempts=row.attempts,
                failed_at=moment(row.failed_at or 0.0),
            )
            for row in rows
        ]

    def replay(self, job_id: str) -> bool:
        jobs = t.jobs
        with self.db.atomic() as conn:
            result = conn.execute(
                update(jobs)
                .where(and_(jobs.c.id == job_id, jobs.c.state == DEAD))
                .values(
                    state=READY, visible_at=time.time(), attempts=0, traceback=None, failed_at=None
                )
            )
            return bool(result.rowcount)

    def depth(self) -> dict[str, int]:
        jobs = t.jobs
        now = time.time()
        ready = and_(jobs.c.state == READY, jobs.c.visible_at <= now)
        waiting = and_(jobs.c.state == READY, jobs.c.visible_at > now)
        sql = select(
            func.count().filter(ready),
            func.count().filter(and_(waiting, jobs.c.receipt.is_(None))),
            func.count().filter(and_(waiting, jobs.c.receipt.is_not(None))),
            func.count().filter(jobs.c.state == DEAD),
        )
        with self.db.read() as conn:
            ready_n, delayed, in_flight, dead = conn.execute(sql).one()
        return {"ready": ready_n, "delayed": delayed, "in_flight": in_flight, "dead": dead}

    def release_orphans(self) -> int:
        """Make jobs claimed by dead processes on this host visible now, instead of waiting out
        their visibility timeout (a killed `darkroom ingest` resumes at once)."""
        host = socket.gethostname()
        jobs = t.jobs
        released = 0
        with self.db.atomic() as conn:
            rows = conn.execute(
                select(jobs.c.id, jobs.c.claimed_by).where(
                    and_(
                        jobs.c.state == READY,
                        jobs.c.receipt.is_not(None),
                        jobs.c.visible_at > time.time(),
                    )
                )
            ).all()
            for job_id, claimed_by in rows:
                if _is_dead_local_process(claimed_by or "", host):
                    conn.execute(
                        update(jobs)
                        .where(jobs.c.id == job_id)
                        .values(visible_at=time.time(), receipt=None)
                    )
                    released += 1
        return released


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _is_dead_local_process(claimed_by: str, host: str) -> bool:
    parts = claimed_by.split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
