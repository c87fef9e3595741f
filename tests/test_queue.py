"""The local queue: claims that expire, receipts, backoff delays, dead letters and replay."""

from __future__ import annotations

import time

from darkroom.adapters.sql.queue import SqlQueue
from darkroom.domain.records import Job
from darkroom.wiring import Runtime

# Every test here runs on SQLite and on PostgreSQL: the adapters must behave alike.
BOTH_BACKENDS = True


def job(n: int = 1) -> Job:
    return Job(id=f"job{n}", image_id=f"img{n}", owner="alice", recipe="pets")


def test_claim_hides_the_job_until_it_expires(runtime: Runtime) -> None:
    queue = runtime.queue
    queue.enqueue(job())
    first = queue.claim("w1", visibility=0.3)
    assert first is not None and first.attempt == 1
    assert queue.claim("w2", visibility=0.3) is None
    assert queue.depth()["in_flight"] == 1
    time.sleep(0.35)
    second = queue.claim("w2", visibility=5)
    assert second is not None and second.job == first.job and second.attempt == 2


def test_a_stale_receipt_cannot_ack_another_workers_claim(runtime: Runtime) -> None:
    queue = runtime.queue
    queue.enqueue(job())
    stale = queue.claim("w1", visibility=0.1)
    time.sleep(0.15)
    current = queue.claim("w2", visibility=5)
    assert stale is not None and current is not None
    queue.ack(stale)  # the first worker wakes up late: nothing happens
    assert queue.depth()["in_flight"] == 1
    queue.ack(current)
    assert queue.depth() == {"ready": 0, "delayed": 0, "in_flight": 0, "dead": 0}


def test_extend_keeps_the_claim(runtime: Runtime) -> None:
    queue = runtime.queue
    queue.enqueue(job())
    claim = queue.claim("w1", visibility=0.2)
    assert claim is not None
    queue.extend(claim, 5)
    time.sleep(0.25)
    assert queue.claim("w2", visibility=1) is None


def test_retry_delays_redelivery(runtime: Runtime) -> None:
    queue = runtime.queue
    queue.enqueue(job())
    claim = queue.claim("w1", visibility=5)
    assert claim is not None
    queue.retry(claim, delay=0.2, error="boom")
    assert queue.claim("w1", visibility=5) is None
    assert queue.depth()["delayed"] == 1
    time.sleep(0.25)
    again = queue.claim("w1", visibility=5)
    assert again is not None and again.attempt == 2


def test_enqueue_is_idempotent(runtime: Runtime) -> None:
    runtime.queue.enqueue(job())
    runtime.queue.enqueue(job())
    assert runtime.queue.depth()["ready"] == 1


def test_dead_letter_and_replay(runtime: Runtime) -> None:
    queue = runtime.queue
    queue.enqueue(job())
    claim = queue.claim("w1", visibility=5)
    assert claim is not None
    queue.dead_letter(claim, "step: ValueError: nope", "Traceback ...")
    assert queue.claim("w1", visibility=5) is None
    [letter] = queue.dead_letters()
    assert letter.error == "step: ValueError: nope" and letter.attempts == 1 and letter.traceback
    assert queue.replay("job1") is True
    assert queue.replay("job1") is False  # no longer dead
    again = queue.claim("w1", visibility=5)
    assert again is not None and again.attempt == 1
    assert queue.dead_letters() == []


def test_jobs_are_claimed_oldest_first_and_each_once(runtime: Runtime) -> None:
    queue = runtime.queue
    for n in range(5):
        queue.enqueue(job(n))
        time.sleep(0.002)
    claimed = []
    while (claim := queue.claim("w", visibility=5)) is not None:
        claimed.append(claim.job.id)
    assert claimed == [f"job{n}" for n in range(5)]


def test_orphaned_claims_of_dead_local_processes_are_released(runtime: Runtime) -> None:
    import socket
    import subprocess
    import sys

    queue = runtime.queue
    assert isinstance(queue, SqlQueue)
    queue.enqueue(job())
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    claim = queue.claim(f"{socket.gethostname()}:{dead.stdout.strip()}:abc", visibility=300)
    assert claim is not None
    assert queue.claim("w2", visibility=5) is None
    assert queue.release_orphans() == 1
    assert queue.claim("w2", visibility=5) is not None
