"""Queue on SQS (sqs://QUEUE_NAME): the visibility timeout is the claim, the receipt handle its
receipt, ApproximateReceiveCount its attempt. The dead-letter queue is the one the queue's
RedrivePolicy names, so SQS's own redrive (a worker that keeps dying) and darkroom's (a step out
of retries) end in the same place.

Where SQS differs from the local queue, by its nature:
- times are whole seconds (visibility, delays); a retry delay is capped at 12 hours;
- a retried message keeps its body, so the last error is not stored with a job still in the
  queue (it is logged, and kept with the step's failure count in the catalog);
- an ack with a superseded receipt (a worker whose claim expired, finishing late) may still
  delete the message SQS redelivered to another worker. The effects stay exactly-once (steps are
  idempotent and the other worker holds the job), but if that worker then dies the job is gone
  from the queue; the image stays `processing` and `darkroom reprocess` recovers it;
- `dead_letters` peeks at the dead-letter queue (receive with no visibility): SQS answers a
  sample, so a long queue may need several calls to list every message.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from darkroom.adapters.aws.clients import client, error_code
from darkroom.domain.records import Claim, DeadLetter, Job

MAX_VISIBILITY = 12 * 3600  # SQS's limit for a message's visibility timeout
MAX_DELAY = 900  # SendMessage's DelaySeconds limit
_BODY_LIMIT = 200_000  # SQS takes 256 KiB; tracebacks are cut to stay well under
_STALE = {"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"}


def job_body(job: Job, **extra: Any) -> str:
    """The message body of a job: the processor Lambda reads the same shape."""
    return json.dumps(
        {"id": job.id, "image_id": job.image_id, "owner": job.owner, "recipe": job.recipe, **extra}
    )


def _job(data: dict[str, Any]) -> Job:
    return Job(id=data["id"], image_id=data["image_id"], owner=data["owner"], recipe=data["recipe"])


def _seconds(value: float, limit: int = MAX_VISIBILITY) -> int:
    return max(0, min(limit, math.ceil(value)))


class SqsQueue:
    def __init__(self, name: str, *, wait_seconds: int = 2) -> None:
        self.sqs = client("sqs")
        self.url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        self.wait_seconds = wait_seconds  # long polling: an empty queue costs one call per wait
        self.dlq_url = self._dead_letter_queue()

    def _dead_letter_queue(self) -> str | None:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        if "RedrivePolicy" not in attributes:
            return None
        arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
        account, name = arn.split(":")[4], arn.split(":")[5]
        return str(
            self.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        )

    def _require_dlq(self) -> str:
        if self.dlq_url is None:
            raise RuntimeError(f"queue {self.url} has no RedrivePolicy: no dead-letter queue")
        return self.dlq_url

    def enqueue(self, job: Job, *, delay: float = 0.0) -> None:
        self.sqs.send_message(
            QueueUrl=self.url, MessageBody=job_body(job), DelaySeconds=_seconds(delay, MAX_DELAY)
        )

    def claim(self, worker: str, visibility: float) -> Claim | None:
        claims = self.claim_many(worker, visibility, 1)
        return claims[0] if claims else None

    def claim_many(self, worker: str, visibility: float, limit: int) -> list[Claim]:
        """Up to 10 jobs in one call (SQS's batch limit)."""
        answer = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(10, limit)),
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=_seconds(visibility),
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        claims = []
        for message in answer.get("Messages", []):
            job = _job(json.loads(message["Body"]))
            attempt = int(message["Attributes"]["ApproximateReceiveCount"])
            claims.append(Claim(job=job, receipt=message["ReceiptHandle"], attempt=attempt))
        return claims

    def _visibility(self, claim: Claim, seconds: float) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=claim.receipt, VisibilityTimeout=_seconds(seconds)
            )
        except ClientError as exc:
            if error_code(exc) not in _STALE:
                raise  # a stale receipt: another worker holds the job now; leave it be

    def extend(self, claim: Claim, visibility: float) -> None:
        self._visibility(claim, visibility)

    def retry(self, claim: Claim, delay: float, error: str) -> None:
        self._visibility(claim, delay)

    def ack(self, claim: Claim) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=claim.receipt)
        except ClientError as exc:
            if error_code(exc) not in _STALE:
                raise

    def dead_letter(self, claim: Claim, error: str, traceback: str) -> None:
        body = job_body(
            claim.job,
            error=error[:10_000],
            traceback=traceback[-(_BODY_LIMIT // 2) :],
            attempts=claim.attempt,
            failed_at=time.time(),
        )
        self.sqs.send_message(QueueUrl=self._require_dlq(), MessageBody=body)
        self.ack(claim)

    def _peek(self, limit: int, visibility: int) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for _ in range(max(1, math.ceil(limit / 10)) + 1):
            answer = self.sqs.receive_message(
                QueueUrl=self._require_dlq(),
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=visibility,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            messages = answer.get("Messages", [])
            for message in messages:
                found.setdefault(message["MessageId"], message)
            if not messages or len(found) >= limit:
                break
        return list(found.values())[:limit]

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        letters = []
        for message in self._peek(limit, visibility=0):
            data = json.loads(message["Body"])
            count = int(message["Attributes"]["ApproximateReceiveCount"])
            letters.append(
                DeadLetter(
                    job=_job(data),
                    # A message SQS moved itself (maxReceiveCount) carries no error of ours.
                    error=data.get("error", "received too many times without finishing (SQS)"),
                    traceback=data.get("traceback", ""),
                    attempts=int(data.get("attempts", count)),
                    failed_at=datetime.fromtimestamp(data.get("failed_at", 0.0), UTC),
                )
            )
        return sorted(letters, key=lambda letter: letter.failed_at)

    def replay(self, job_id: str) -> bool:
        """Send the job back, then delete it from the dead-letter queue (a crash in between
        leaves both: the job then runs once and its repeat finds it finished)."""
        dlq = self._require_dlq()
        found = False
        for message in self._peek(1000, visibility=30):
            data = json.loads(message["Body"])
            if not found and data.get("id") == job_id:
                self.sqs.send_message(QueueUrl=self.url, MessageBody=job_body(_job(data)))
                self.sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                found = True
            else:  # looked at, not taken: visible again at once for the next caller
                self.sqs.change_message_visibility(
                    QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        return found

    def depth(self) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
        ]
        counts = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)
        values = [int(counts["Attributes"].get(name, 0)) for name in names]
        dead = 0
        if self.dlq_url is not None:
            dlq = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=names[:1])
            dead = int(dlq["Attributes"].get(names[0], 0))
        return {"ready": values[0], "delayed": values[1], "in_flight": values[2], "dead": dead}
