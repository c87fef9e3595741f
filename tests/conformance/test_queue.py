"""The local queue (on SQLite and on PostgreSQL) and SQS alike: claim, visibility expiry and redelivery, attempts, retry
delays, stale receipts, dead letters and replay. Times are whole seconds, as SQS counts them."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from darkroom.domain.records import Job
from darkroom.ports import Queue
from tests.conformance.conftest import sqs_queue_with_dlq


@pytest.fixture(params=["sqlite", "postgresql", "sqs"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Queue:
    if request.param in {"sqlite", "postgresql"}:
        from darkroom.adapters.sql.database import Database
        from darkroom.adapters.sql.queue import SqlQueue

        if request.param == "sqlite":
            return SqlQueue(Database(f"sqlite:///{tmp_path / 'q.db'}"))
        server = request.getfixturevalue("postgres_server")
        name = f"q_{uuid.uuid4().hex[:12]}"
        server.psql(f"CREATE DATABASE {name};")
        return SqlQueue(Database(str(server.get_uri(name))))
    aws: Any = request.getfixturevalue("aws")
    from darkroom.adapters.aws.sqs import SqsQueue

    return SqsQueue(sqs_queue_with_dlq(aws), wait_seconds=0)


def job(n: int = 1) -> Job:
    return Job(id=f"job{n}", image_id=f"img{n}", owner="alice", recipe="pets")


def test_claim_ack(queue: Queue) -> None:
    assert queue.claim("w", visibility=30) is None
    queue.enqueue(job())
    claim = queue.claim("w", visibility=30)
    assert claim is not None and claim.job == job() and claim.attempt == 1
    assert queue.claim("w", visibility=30) is None  # hidden while claimed
    queue.ack(claim)
    time.sleep(1.2)
    assert queue.claim("w", visibility=30) is None


def test_claim_many_takes_several_each_acked_on_its_own(queue: Queue) -> None:
    for n in range(5):
        queue.enqueue(job(n))
    claims: list = []
    for _ in range(5):  # SQS may answer fewer than asked for: ask until all are in hand
        claims += queue.claim_many("w", visibility=30, limit=3 if not claims else 5)
        if len(claims) == 5:
            break
    assert sorted(c.job.id for c in claims) == [f"job{n}" for n in range(5)]
    assert queue.claim_many("w", visibility=30, limit=5) == []  # all hidden while claimed
    for claim in claims[:4]:
        queue.ack(claim)
    queue.retry(claims[4], 0, "again")  # one claim's fate is its own
    again = queue.claim("w", visibility=30)
    assert again is not None and again.job.id == claims[4].job.id and again.attempt == 2
    queue.ack(again)


def test_an_expired_claim_is_redelivered_with_the_next_attempt(queue: Queue) -> None:
    queue.enqueue(job())
    first = queue.claim("w1", visibility=1)
    assert first is not None
    time.sleep(1.5)
    second = queue.claim("w2", visibility=30)
    assert second is not None and second.job == job() and second.attempt == 2
    queue.ack(second)


def test_a_stale_receipt_removes_nothing(queue: Queue) -> None:
    from darkroom.adapters.aws.sqs import SqsQueue

    if isinstance(queue, SqsQueue):
        pytest.skip(
            "platform limit: SQS may honour a superseded receipt handle (its DeleteMessage "
            "docs: 'the message might not be deleted'); see darkroom/adapters/aws/sqs.py"
        )
    queue.enqueue(job())
    first = queue.claim("w1", visibility=1)
    assert first is not None
    time.sleep(1.5)
    second = queue.claim("w2", visibility=30)
    assert second is not None
    queue.ack(first)
    assert queue.depth()["in_flight"] == 1


def test_retry_hides_the_job_for_its_delay(queue: Queue) -> None:
    queue.enqueue(job())
    claim = queue.claim("w", visibility=30)
    assert claim is not None
    queue.retry(claim, delay=1, error="step failed")
    assert queue.claim("w", visibility=30) is None
    time.sleep(1.5)
    again = queue.claim("w", visibility=30)
    assert again is not None and again.attempt == 2


def test_extend_keeps_the_claim(queue: Queue) -> None:
    queue.enqueue(job())
    claim = queue.claim("w", visibility=1)
    assert claim is not None
    queue.extend(claim, visibility=30)
    time.sleep(1.5)
    assert queue.claim("w", visibility=30) is None


def test_dead_letters_and_replay(queue: Queue) -> None:
    queue.enqueue(job(1))
    queue.enqueue(job(2))
    claim = queue.claim("w", visibility=30)
    assert claim is not None
    queue.dead_letter(claim, "detect: RuntimeError: boom", "Traceback ...")
    time.sleep(0.2)
    letters = queue.dead_letters()
    assert [letter.job for letter in letters] == [claim.job]
    assert letters[0].error == "detect: RuntimeError: boom"
    assert letters[0].traceback == "Traceback ..." and letters[0].attempts == 1
    assert queue.depth()["dead"] == 1
    assert not queue.replay("no-such-job")
    assert queue.replay(claim.job.id)
    assert queue.dead_letters() == [] and queue.depth()["dead"] == 0
    ids = set()
    for _ in range(2):
        again = queue.claim("w", visibility=30)
        assert again is not None
        ids.add(again.job.id)
    assert ids == {"job1", "job2"}


def test_delayed_enqueue(queue: Queue) -> None:
    queue.enqueue(job(), delay=1)
    assert queue.claim("w", visibility=30) is None
    assert queue.depth()["delayed"] == 1
    time.sleep(1.5)
    assert queue.claim("w", visibility=30) is not None
