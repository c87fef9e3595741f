"""The processor Lambda: SQS batches of arrivals and jobs, each image run through its recipe here.

Lambda's SQS event source has already claimed every message of the batch: the record is the
claim (its receipt handle, its receive count the delivery attempt). Success deletes the message;
a record listed in batchItemFailures comes back after its visibility timeout. One bad image
fails only its own record; a rejected file (not an image) is an answer, not a failure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from darkroom.domain.records import Claim, DeadLetter, Job
from darkroom.engine.runner import Outcome
from darkroom.lambdas import arrivals, messages
from darkroom.lambdas.runtime import (
    count_image,
    count_step_failure,
    log_metrics,
    logger,
    runtime,
    time_steps,
    tracer,
)
from darkroom.ports import Queue

# A batch whose every record failed is answered with every record listed, not raised: the
# function's error metric then counts crashes, not pictures that will be retried.
batch = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RetryLater(Exception):
    """The job failed an attempt below its step's retry limit: SQS delivers it again."""


class RecordQueue:
    """The Queue port over one record of the batch. The event source claimed the message and
    deletes it when the record succeeds, so `ack` leaves that to it. A retry sets the message's
    visibility to the backoff delay and marks the record failed, so it is not deleted. Dead
    letters and visibility go through the configured queue (SQS) with the record's receipt."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.retry_error: str | None = None

    def enqueue(self, job: Job, *, delay: float = 0.0) -> None:
        self.queue.enqueue(job, delay=delay)

    def claim(self, worker: str, visibility: float) -> Claim | None:
        raise NotImplementedError("the Lambda event source claims messages")

    def claim_many(self, worker: str, visibility: float, limit: int) -> list[Claim]:
        raise NotImplementedError("the Lambda event source claims messages")

    def extend(self, claim: Claim, visibility: float) -> None:
        self.queue.extend(claim, visibility)

    def ack(self, claim: Claim) -> None:
        pass  # the event source deletes the message when the record succeeds

    def retry(self, claim: Claim, delay: float, error: str) -> None:
        self.queue.retry(claim, delay, error)
        self.retry_error = error

    def dead_letter(self, claim: Claim, error: str, traceback: str) -> None:
        self.queue.dead_letter(claim, error, traceback)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return self.queue.dead_letters(limit)

    def replay(self, job_id: str) -> bool:
        return self.queue.replay(job_id)

    def depth(self) -> dict[str, int]:
        return self.queue.depth()


@tracer.capture_method
def handle_record(record: SQSRecord) -> None:
    rt = runtime()
    attempt = int(record.attributes.approximate_receive_count or 1)
    message = messages.parse_body(record.body)
    if message.ignored:
        logger.info("message ignored", extra={"reason": message.ignored})
    jobs = list(message.jobs)
    for obj in message.objects:
        arrival = arrivals.admit(rt, obj, enqueue=False)
        if arrival.skipped:
            logger.info("object skipped", extra={"key": obj.key, "reason": arrival.skipped})
            continue
        if arrival.image is not None and arrival.image.job_id is None:  # refused on arrival
            logger.info("object rejected", extra={"key": obj.key, "reason": arrival.image.error})
            continue
        jobs.append(arrival.job())
    for job in jobs:
        run_job(Claim(job, receipt=record.receipt_handle, attempt=attempt))


def run_job(claim: Claim) -> Outcome:
    rt = runtime()
    queue = RecordQueue(rt.queue)
    engine = dataclasses.replace(rt.engine, queue=queue)
    outcome = engine.process(claim)
    logger.info(
        "job finished",
        extra={
            "image_id": outcome.image_id,
            "status": outcome.status,
            "steps": outcome.steps_run,
            "error": outcome.error,
        },
    )
    time_steps(claim.job.recipe, outcome.seconds_by_step)
    if outcome.failed_step is not None:
        count_step_failure(claim.job.recipe, outcome.failed_step)
    image = rt.catalog.get_image(outcome.image_id)
    if image is not None and outcome.status != "skipped" and image.status.final:
        count_image(image)
    if queue.retry_error is not None:
        raise RetryLater(queue.retry_error)
    return outcome


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=batch, context=context
        )
    )
