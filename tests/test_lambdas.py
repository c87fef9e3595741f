"""The Lambda entry points (processor, Step Functions task, API) against moto's server over HTTP: objects put in a real (emulated)
bucket, their notifications received from a real queue in every shape S3 sends them, and the
handlers' effects read back from S3, DynamoDB, the bus's rule target and the topic's
subscriber."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkroom.domain.records import ImageStatus
from darkroom.lambdas import api, processor, runtime, step
from darkroom.wiring import Runtime
from tests import images
from tests.lambda_harness import (
    Container,
    LambdaContext,
    Stack,
    arrivals,
    deliver,
    object_created,
    sqs_event,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)  # sure cat, unsure cat, sure dog


pytestmark = [pytest.mark.usefixtures("aws_credentials"), pytest.mark.slow]  # moto


@pytest.fixture
def stack(moto_endpoint: str) -> Stack:
    return Stack(moto_endpoint)


@pytest.fixture
def lambda_env(stack: Stack, home: Path, lambda_container: Container) -> None:
    """A Lambda container's environment: the contract's settings pointing at this stack."""
    # S3, SQS, EventBridge, SNS and DynamoDB behind the ports come from the aws-adapters branch.
    pytest.importorskip("darkroom.adapters.aws", reason="the AWS adapters are not merged yet")
    recipes = str(home.parent / "recipes")
    lambda_container({**stack.container(home, "colour-pets"), "DARKROOM_RECIPES_DIR": recipes})


@pytest.fixture
def rt(lambda_env: None) -> Runtime:
    return runtime.runtime()


def put_photo(stack: Stack, key: str, tint: tuple[int, int, int], seed: int = 0) -> None:
    body = images.jpeg_bytes(images.photo(160, 120, seed=seed, tint=tint))
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType="image/jpeg")


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
    # The key was URL-decoded: "+" (a space) and "%2B" (a plus) told apart.
    assert image.source == f"s3://{stack.bucket}/input/alice/my cat+1.jpg"
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
    stack: Stack, rt: Runtime, lambda_container: Container
) -> None:
    lambda_container({"DARKROOM_RECIPE": "poisoned"})
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
    assert {"ImagesProcessed", "ImagesUncertain", "ImagesClassified", "StepSeconds"} <= names
    assert all(d["Namespace"] == "darkroom" for b in blobs for d in b["_aws"]["CloudWatchMetrics"])
    # The dimensions the dashboard's SEARCH expressions name (deploy/aws monitoring.py).
    by_name = {
        metric["Name"]: (blob, sorted(directive["Dimensions"][0]))
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    classified, dimensions = by_name["ImagesClassified"]
    assert dimensions == ["class", "service"] and classified["class"] == "cat"
    steps = {b["step"]: b for b in blobs if "StepSeconds" in b}
    assert {"validate", "thumbnail", "detect", "classify"} <= set(steps)
    assert all(b["recipe"] == "colour-pets" and min(b["StepSeconds"]) >= 0 for b in steps.values())
    assert sorted(by_name["StepSeconds"][1]) == ["recipe", "service", "step"]


# --- the Step Functions task and the API ------------------------------------------------


def stored_created(stack: Stack, key: str) -> dict[str, Any]:
    """The EventBridge event S3 sends for an object of the stack's bucket."""
    head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
    return object_created(stack.bucket, key, head["ContentLength"], head["ETag"].strip('"'))


def task(event: dict[str, Any]) -> dict[str, Any]:
    return step.handler(event, LambdaContext())


# --- step.handler ------------------------------------------------------------------------


def test_accept_then_every_step_ends_as_the_processor_does(stack: Stack, rt: Runtime) -> None:
    put_photo(stack, "input/alice/maybe.jpg", GREEN)
    accepted = task({"action": "accept", "event": stored_created(stack, "input/alice/maybe.jpg")})
    assert accepted["skipped"] is False and accepted["reason"] is None
    assert (accepted["owner"], accepted["recipe"]) == ("alice", "colour-pets")
    assert task({"action": "accept", "event": stored_created(stack, "input/alice/maybe.jpg")}) == (
        accepted
    )  # a repeated accept finds the same image
    image_id = accepted["image_id"]
    names = [s.name for s in rt.recipes.get("colour-pets").steps]
    results = [
        task({"action": "step", "step": name, "image_id": image_id, "recipe": "colour-pets"})
        for name in names
    ]
    assert [r["status"] for r in results] == ["processing"] * (len(names) - 1) + ["completed"]
    assert results[-1]["uncertain"] is True and results[-1]["class"] == "cat"
    image = only_image(rt)
    assert_filed(stack, rt, image, "cats")
    assert len(stack.bodies(stack.notes_url)) == 1
    # A repeated step (Step Functions retried a task whose answer was lost) changes nothing.
    first = stack.detection(image_id)
    again = task(
        {"action": "step", "step": "record", "image_id": image_id, "recipe": "colour-pets"}
    )
    assert again == {**results[names.index("record")], "status": "completed"}
    assert stack.detection(image_id) == first
    assert stack.bodies(stack.events_url) == []
    skipped = task(
        {"action": "accept", "event": {"bucket": stack.bucket, "key": "cats/alice/x.jpg"}}
    )
    assert skipped["skipped"] is True and "input/" in skipped["reason"]


def test_accept_by_bucket_and_key_and_fail(stack: Stack, rt: Runtime) -> None:
    put_photo(stack, "input/alice/b.jpg", BLUE)
    accepted = task(
        {"action": "accept", "event": {"bucket": stack.bucket, "key": "input/alice/b.jpg"}}
    )
    image_id = accepted["image_id"]
    task({"action": "step", "step": "validate", "image_id": image_id, "recipe": "colour-pets"})
    cause = json.dumps({"errorMessage": "model timed out", "errorType": "TimeoutError"})
    error = {"Error": "TimeoutError", "Cause": cause}
    answer = task({"action": "fail", "image_id": image_id, "recipe": "colour-pets", "error": error})
    assert answer == {
        "image_id": image_id,
        "recipe": "colour-pets",
        "error": "TimeoutError: model timed out",
    }
    image = rt.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.FAILED
    failed = [e for e in stack.events_of(image_id) if e["detail-type"] == "ImageFailed"]
    assert len(failed) == 1 and failed[0]["detail"]["error"] == "TimeoutError: model timed out"
    again = task(
        {"action": "step", "step": "normalize", "image_id": image_id, "recipe": "colour-pets"}
    )
    assert again["status"] == "failed"  # a failed image runs nothing more


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"action": "dance"}, "unknown action 'dance'"),
        ({"action": "step", "image_id": "x", "recipe": "pets"}, "needs 'step'"),
        ({"action": "accept", "event": "input/a/b.jpg"}, "needs 'event'"),
    ],
)
def test_bad_task_inputs_are_named(rt: Runtime, event: dict[str, Any], problem: str) -> None:
    with pytest.raises(step.BadTask, match=problem):
        task(event)


def test_a_failing_step_raises_for_the_state_machine(
    stack: Stack, lambda_container: Container, lambda_env: None
) -> None:
    lambda_container({"DARKROOM_RECIPE": "poisoned"})
    put_photo(stack, "input/alice/poison.jpg", BLUE)
    accepted = task({"action": "accept", "event": stored_created(stack, "input/alice/poison.jpg")})
    image_id = accepted["image_id"]
    task({"action": "step", "step": "validate", "image_id": image_id, "recipe": "poisoned"})
    with pytest.raises(RuntimeError, match=r"poisoned by poison\.jpg"):
        task({"action": "step", "step": "poison", "image_id": image_id, "recipe": "poisoned"})


# --- api.handler -----------------------------------------------------------------------------


def rest_event(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload format 1.0) for stage "prod"."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTimeEpoch": 1714564800000,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def test_health_through_api_gateway(stack: Stack, rt: Runtime) -> None:
    answer = api.handler(rest_event("GET", "/health"), LambdaContext())
    assert answer["statusCode"] == 200, answer["body"]
    health = json.loads(answer["body"])
    assert health["status"] == "ok" and health["checks"]["storage"] == "ok"


def test_an_authenticated_upload_through_api_gateway_is_then_processed(
    stack: Stack, rt: Runtime
) -> None:
    stack.notify_queue()
    _, secret = rt.keys.create("alice", "default")
    assert api.handler(rest_event("GET", "/images"), LambdaContext())["statusCode"] == 401
    picture = images.jpeg_bytes(images.photo(160, 120, tint=BLUE))
    upload = {
        "filename": "rex.jpg",
        "content_type": "image/jpeg",
        "data": base64.b64encode(picture).decode(),
    }
    headers = {"X-API-Key": secret, "Content-Type": "application/json"}
    answer = api.handler(
        rest_event("POST", "/upload", headers=headers, body=json.dumps(upload).encode()),
        LambdaContext(),
    )
    assert answer["statusCode"] == 202, answer["body"]
    image_id = json.loads(answer["body"])["image_id"]
    assert stack.keys("input/") == [f"input/alice/{image_id}.jpg"]
    # The bucket's notification and the job message, handled by the processor.
    assert deliver(stack, arrivals(stack, 2)) == {"batchItemFailures": []}
    listing = api.handler(rest_event("GET", "/images", headers=headers), LambdaContext())
    assert listing["statusCode"] == 200
    items = json.loads(listing["body"])["items"]
    assert [(i["image_id"], i["status"], i["class"]) for i in items] == [
        (image_id, "completed", "dog")
    ]


# --- /upload/presign when the originals live on S3 ------------------------------------------


def presign(secret: str, **body: Any) -> dict[str, Any]:
    request = {"filename": "../../Rex photo.jpg", "content_type": "image/jpeg", **body}
    headers = {"X-API-Key": secret, "Content-Type": "application/json"}
    answer = api.handler(
        rest_event("POST", "/upload/presign", headers=headers, body=json.dumps(request).encode()),
        LambdaContext(),
    )
    return {"status": answer["statusCode"], **json.loads(answer["body"])}


def post_form(grant: dict[str, Any], picture: bytes) -> httpx.Response:
    """What a browser does with the grant: every field, then the file last."""
    return httpx.post(
        grant["url"], data=grant["fields"], files={"file": ("rex.jpg", picture, "image/jpeg")}
    )


def test_presign_on_s3_is_a_post_straight_to_the_bucket_then_processed(
    stack: Stack, rt: Runtime
) -> None:
    stack.notify_queue()
    _, secret = rt.keys.create("alice", "default")
    picture = images.jpeg_bytes(images.photo(160, 120, tint=BLUE))
    grant = presign(secret, size=len(picture) + 10)
    assert grant["status"] == 200, grant
    assert grant["method"] == "POST" and grant["url"].startswith(stack.endpoint)
    key = f"input/alice/{grant['image_id']}/Rex photo.jpg"  # no path tricks from the name
    assert grant["fields"]["key"] == key
    # S3 enforces the signed policy (moto does not): every condition darkroom relies on is in it.
    policy = json.loads(base64.b64decode(grant["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, len(picture) + 10] in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert {"x-amz-meta-recipe": "colour-pets"} in conditions
    assert {"x-amz-server-side-encryption": "AES256"} in conditions
    assert {"key": key} in conditions and {"bucket": stack.bucket} in conditions
    assert post_form(grant, picture).status_code == 204
    assert stack.s3.head_object(Bucket=stack.bucket, Key=key)["Metadata"] == {
        "recipe": "colour-pets"
    }
    messages = arrivals(stack, 1)
    assert deliver(stack, messages) == {"batchItemFailures": []}
    image = only_image(rt)
    assert image.id == grant["image_id"] and image.filename == "Rex photo.jpg"
    assert_filed(stack, rt, image, "dogs")
    # The same notification again (SQS delivers at least once) finds the same image.
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=messages[0]["Body"])
    assert deliver(stack, arrivals(stack, 1)) == {"batchItemFailures": []}
    assert only_image(rt).id == grant["image_id"]


def test_presign_on_s3_keeps_the_recipe_and_refuses_what_s3_cannot_check(
    stack: Stack, rt: Runtime
) -> None:
    from darkroom.lambdas import arrivals as admission
    from darkroom.lambdas.messages import StoredObject

    _, secret = rt.keys.create("alice", "default")
    refused = presign(secret, size=1000, sha256="0" * 64)
    assert refused["status"] == 422 and "checksum" in json.dumps(refused)
    assert presign(secret, size=1000, recipe="nope")["status"] == 422
    assert presign(secret, size=10**12)["status"] == 413
    assert presign(secret, size=1000, content_type="text/html")["status"] == 415
    grant = presign(secret, size=10_000, recipe="pets")
    assert grant["fields"]["x-amz-meta-recipe"] == "pets"
    picture = images.jpeg_bytes(images.photo(64, 48))
    assert post_form(grant, picture).status_code == 204
    key = grant["fields"]["key"]
    arrival = admission.admit(
        rt, StoredObject(stack.bucket, key, len(picture), "etag-1"), enqueue=False
    )
    assert arrival.new and arrival.image is not None
    assert (arrival.image.id, arrival.image.recipe) == (grant["image_id"], "pets")
    again = admission.admit(
        rt, StoredObject(stack.bucket, key, len(picture), "etag-2"), enqueue=False
    )
    assert not again.new and again.image is not None and again.image.id == grant["image_id"]
