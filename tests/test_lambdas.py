"""The Lambda entry points against moto's server over HTTP: objects put in a real (emulated)
bucket, their notifications received from a real queue in every shape S3 sends them, and the
handlers' effects read back from S3, DynamoDB, the bus's rule target and the topic's
subscriber."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from darkroom.domain.records import ImageStatus
from darkroom.lambdas import processor, runtime
from darkroom.wiring import Runtime
from tests import images
from tests.lambda_harness import LambdaContext, Stack, sqs_event
from tests.server import free_port

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)  # sure cat, unsure cat, sure dog


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def stack(moto_url: str) -> Stack:
    return Stack(moto_url)


@pytest.fixture
def lambda_env(
    stack: Stack, home: Path, monkeypatch: pytest.MonkeyPatch, moto_url: str
) -> Iterator[None]:
    """A Lambda container's environment: the contract's settings pointing at this stack."""
    environment = {
        **stack.environment(),
        "AWS_ENDPOINT_URL": moto_url,
        "DARKROOM_HOME": str(home),
        "DARKROOM_RECIPES_DIR": str(home.parent / "recipes"),
        "DARKROOM_RECIPE": "colour-pets",
        "DARKROOM_SECRET_KEY": "lambda-test-secret",
        "POWERTOOLS_SERVICE_NAME": "darkroom",
        "POWERTOOLS_METRICS_NAMESPACE": "darkroom",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def rt(lambda_env: None) -> Runtime:
    return runtime.runtime()


def put_photo(stack: Stack, key: str, tint: tuple[int, int, int], seed: int = 0) -> None:
    body = images.jpeg_bytes(images.photo(160, 120, seed=seed, tint=tint))
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType="image/jpeg")


def deliver(stack: Stack, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What Lambda's SQS event source does: hand the batch to the function, then delete the
    messages of the records that did not fail."""
    answer = processor.handler(sqs_event(messages, stack.queue_arn), LambdaContext())
    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            stack.sqs.delete_message(
                QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    return answer


def arrivals(stack: Stack, count: int) -> list[dict[str, Any]]:
    """The next `count` notifications about objects (S3's test events are dropped here; the
    handler's reading of them is tested in test_lambda_messages)."""
    found: list[dict[str, Any]] = []
    for _ in range(20):
        for message in stack.receive(stack.queue_url, wait=1.0):
            if "s3:TestEvent" in message["Body"]:
                stack.sqs.delete_message(
                    QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            else:
                found.append(message)
        if len(found) >= count:
            return found
    raise AssertionError(f"expected {count} notifications, got {len(found)}")


def only_image(rt: Runtime, owner: str = "alice") -> Any:
    from darkroom.ports import ImageQuery

    found = rt.catalog.list_images(ImageQuery(owner=owner))
    assert len(found) == 1, [(i.id, i.location, i.status) for i in found]
    return found[0]


def assert_filed(stack: Stack, rt: Runtime, image: Any, folder: str) -> None:
    """The end state of a processed pet picture, read back from AWS."""
    assert image.status is ImageStatus.COMPLETED, image.error
    assert stack.keys(f"thumbnails/alice/{image.id}/") == [f"thumbnails/alice/{image.id}/800.jpg"]
    assert stack.keys(f"{folder}/") == [f"{folder}/alice/{image.id}.jpg"]
    assert stack.keys("input/") == []
    record = stack.detection(image.id)
    assert record is not None
    assert record["DetectedAnimal"]["S"] == image.class_name
    processed = [e for e in stack.events_of(image.id) if e["detail-type"] == "ImageProcessed"]
    assert len(processed) == 1 and processed[0]["detail"]["status"] == "completed"


# --- the processor: every way an object's notification reaches the queue ---------------------


def test_bucket_notification_to_sqs_files_the_picture(stack: Stack, rt: Runtime) -> None:
    stack.notify_queue()
    put_photo(stack, "input/alice/my cat+1.jpg", RED)
    answer = deliver(stack, arrivals(stack, 1))
    assert answer == {"batchItemFailures": []}
    image = only_image(rt)
    assert image.filename == "my cat+1.jpg"  # the key was URL-decoded: "+" and "%2B" apart
    assert (image.class_name, image.uncertain) == ("cat", False)
    assert_filed(stack, rt, image, "cats")
    assert stack.bodies(stack.notes_url) == []  # sure: nobody is told


def test_sns_wrapped_notification_and_an_uncertain_result(stack: Stack, rt: Runtime) -> None:
    stack.notify_topic()
    put_photo(stack, "input/alice/maybe.jpg", GREEN)
    assert deliver(stack, arrivals(stack, 1)) == {"batchItemFailures": []}
    image = only_image(rt)
    assert (image.class_name, image.uncertain) == ("cat", True)
    assert_filed(stack, rt, image, "cats")
    record = stack.detection(image.id)
    assert record is not None and record["ProcessingStatus"]["S"] == "uncertain"
    notes = stack.bodies(stack.notes_url)
    assert len(notes) == 1
    message = json.loads(notes[0]["Message"])  # the SNS envelope the subscriber queue receives
    assert message["image_id"] == image.id and message["class"] == "cat"


def test_eventbridge_object_created(stack: Stack, rt: Runtime) -> None:
    stack.notify_eventbridge()
    put_photo(stack, "input/alice/rex.jpg", BLUE)
    messages = arrivals(stack, 1)
    assert json.loads(messages[0]["Body"])["detail-type"] == "Object Created"
    assert deliver(stack, messages) == {"batchItemFailures": []}
    image = only_image(rt)
    assert image.class_name == "dog"
    assert_filed(stack, rt, image, "dogs")


def test_documented_s3_event_shape_sent_through_the_queue(stack: Stack, rt: Runtime) -> None:
    from tests.test_lambda_messages import s3_event

    put_photo(stack, "input/alice/a b.jpg", RED)
    size = stack.s3.head_object(Bucket=stack.bucket, Key="input/alice/a b.jpg")["ContentLength"]
    event = s3_event("input/alice/a+b.jpg", size=size)
    event["Records"][0]["s3"]["bucket"]["name"] = stack.bucket  # type: ignore[index]
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(event))
    assert deliver(stack, arrivals(stack, 1)) == {"batchItemFailures": []}
    assert_filed(stack, rt, only_image(rt), "cats")


def test_redelivery_repeats_nothing(stack: Stack, rt: Runtime) -> None:
    stack.notify_queue()
    put_photo(stack, "input/alice/once.jpg", GREEN)
    messages = arrivals(stack, 1)
    event = sqs_event(messages, stack.queue_arn)
    assert processor.handler(event, LambdaContext()) == {"batchItemFailures": []}
    image = only_image(rt)
    first = stack.detection(image.id)
    events = stack.bodies(stack.events_url)
    notes = stack.bodies(stack.notes_url)
    assert events and len(notes) == 1
    # The same message again (Lambda timed out before deleting it, say).
    assert processor.handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert only_image(rt).id == image.id  # not registered twice
    assert stack.detection(image.id) == first  # the record was not written again
    assert stack.bodies(stack.events_url) == []  # no event twice
    assert stack.bodies(stack.notes_url) == []  # nobody told twice


def test_derivatives_and_strays_are_skipped_never_looped(stack: Stack, rt: Runtime) -> None:
    from tests.test_lambda_messages import s3_event

    for key in ("thumbnails/alice/x/800.jpg", "cats/alice/x.jpg", "input/cat.jpg", "input/alice/"):
        event = s3_event(key.replace("/", "%2F"))
        event["Records"][0]["s3"]["bucket"]["name"] = stack.bucket  # type: ignore[index]
        stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(event))
    messages = arrivals(stack, 4)
    assert deliver(stack, messages) == {"batchItemFailures": []}
    assert rt.catalog.count_by_status() == {}


def test_a_rejected_file_is_an_answer_not_a_batch_failure(stack: Stack, rt: Runtime) -> None:
    stack.notify_queue()
    stack.s3.put_object(Bucket=stack.bucket, Key="input/alice/notes.jpg", Body=b"not a picture")
    assert deliver(stack, arrivals(stack, 1)) == {"batchItemFailures": []}
    image = only_image(rt)
    assert image.status is ImageStatus.REJECTED and image.error
    failed = [e for e in stack.events_of(image.id) if e["detail-type"] == "ImageFailed"]
    assert failed and failed[0]["detail"]["status"] == "rejected"


def test_a_poisoned_record_fails_alone_and_ends_in_the_dlq(
    stack: Stack, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DARKROOM_RECIPE", "poisoned")
    runtime.reset()
    rt = runtime.runtime()
    stack.notify_queue()
    put_photo(stack, "input/alice/good-1.jpg", RED, seed=1)
    put_photo(stack, "input/alice/poison.jpg", RED, seed=2)
    put_photo(stack, "input/alice/good-2.jpg", BLUE, seed=3)
    messages = arrivals(stack, 3)
    answer = deliver(stack, messages)
    poisoned = [m["MessageId"] for m in messages if "poison" in m["Body"]]
    assert answer["batchItemFailures"] == [{"itemIdentifier": poisoned[0]}]
    from darkroom.ports import ImageQuery

    by_name = {i.filename: i for i in rt.catalog.list_images(ImageQuery(owner="alice"))}
    assert by_name["good-1.jpg"].status is ImageStatus.COMPLETED
    assert by_name["good-2.jpg"].status is ImageStatus.COMPLETED
    assert by_name["poison.jpg"].status is ImageStatus.PROCESSING
    # The retry set the message's visibility to the step's backoff: it comes back at once,
    # fails again, and on the step's last attempt goes to the dead-letter queue.
    for _attempt in (2, 3):
        again = arrivals(stack, 1)
        assert again[0]["Attributes"]["ApproximateReceiveCount"] == str(_attempt)
        answer = deliver(stack, again)
    assert answer == {"batchItemFailures": []}  # dead-lettered: done with, as far as SQS goes
    image = rt.catalog.get_image(by_name["poison.jpg"].id)
    assert image is not None and image.status is ImageStatus.FAILED
    assert "poisoned by poison.jpg" in (image.error or "")
    dead = stack.receive(stack.dlq_url, wait=1.0)
    assert len(dead) == 1 and image.id in dead[0]["Body"]


def test_an_original_the_api_stored_is_run_once_by_its_job(stack: Stack, rt: Runtime) -> None:
    import io

    stack.notify_queue()
    body = images.jpeg_bytes(images.photo(160, 120, tint=BLUE))
    accepted = rt.intake.accept_stream(
        io.BytesIO(body), filename="up.jpg", owner="alice", recipe="colour-pets"
    )
    assert stack.keys("input/") == [f"input/alice/{accepted.image.id}.jpg"]
    messages = arrivals(stack, 2)  # the bucket's notification and the API's job message
    assert deliver(stack, messages) == {"batchItemFailures": []}
    image = only_image(rt)  # the notification did not register it a second time
    assert image.id == accepted.image.id
    assert_filed(stack, rt, image, "dogs")


def test_metrics_are_emitted_as_emf(
    stack: Stack, rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.notify_queue()
    put_photo(stack, "input/alice/m.jpg", GREEN)
    deliver(stack, arrivals(stack, 1))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {
        metric["Name"]
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert {"ImagesProcessed", "ImagesUncertain"} <= names
    assert all(d["Namespace"] == "darkroom" for b in blobs for d in b["_aws"]["CloudWatchMetrics"])
