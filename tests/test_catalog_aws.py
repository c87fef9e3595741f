"""The catalog recipe on AWS, against moto's server over HTTP: an object put under the owner's
upload prefix ends standardised in S3, recorded, and announced on the EventBridge bus once
(a redelivered notification included); storage keys are URL-decoded before use."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from darkroom.domain.records import ImageStatus
from darkroom.lambdas import processor, runtime
from darkroom.ports import ImageQuery
from darkroom.wiring import Runtime
from tests.garment_pictures import garment
from tests.lambda_harness import Container, LambdaContext, Stack, arrivals, sqs_event

pytestmark = [pytest.mark.usefixtures("aws_credentials"), pytest.mark.slow]


@pytest.fixture
def stack(moto_endpoint: str) -> Stack:
    return Stack(moto_endpoint)


@pytest.fixture
def rt(stack: Stack, home: Path, no_model_keys: None, lambda_container: Container) -> Runtime:
    lambda_container(stack.container(home, "catalog"))
    return runtime.runtime()


def put(stack: Stack, key: str, size: tuple[int, int] = (3000, 2000)) -> None:
    out = io.BytesIO()
    garment(*size, (200, 25, 30)).save(out, format="JPEG", quality=90)
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=out.getvalue())


def inventory(stack: Stack) -> list[dict[str, Any]]:
    return [
        e for e in stack.bodies(stack.events_url) if e["detail-type"] == "InventoryImageProcessed"
    ]


def test_an_upload_ends_standardised_recorded_and_announced_once(stack: Stack, rt: Runtime) -> None:
    stack.notify_queue()
    put(stack, "input/alice/my photo.jpg")  # S3 notifies it as input/alice/my+photo.jpg
    messages = arrivals(stack, 1)
    assert "my+photo.jpg" in messages[0]["Body"]
    batch = sqs_event(messages, stack.queue_arn)
    assert processor.handler(batch, LambdaContext()) == {"batchItemFailures": []}
    [image] = rt.catalog.list_images(ImageQuery(owner="alice"))
    assert image.status is ImageStatus.COMPLETED, image.error
    assert image.source.endswith("input/alice/my photo.jpg")
    key = f"standardised/alice/{image.id}/1024.jpg"
    assert stack.keys("standardised/") == [key]
    body = stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (1024, 683)
    [event] = inventory(stack)
    assert event["source"] == "darkroom.catalog"
    detail = event["detail"]
    assert detail["file_path"] == f"s3://{stack.bucket}/{key}"
    assert (detail["width"], detail["height"]) == (1024, 683)
    assert detail["colours"][0]["name"] == "red" and detail["garments"] == 0

    # Lambda timed out before deleting the message: the same batch again.
    assert processor.handler(batch, LambdaContext()) == {"batchItemFailures": []}
    assert [i.id for i in rt.catalog.list_images(ImageQuery(owner="alice"))] == [image.id]
    assert inventory(stack) == []  # not announced twice


def test_a_percent_encoded_key_finds_its_object(stack: Stack, rt: Runtime) -> None:
    put(stack, "input/alice/a b.png", (600, 400))
    notification = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": stack.bucket, "arn": f"arn:aws:s3:::{stack.bucket}"},
                    "object": {"key": "input/alice/a%20b.png", "size": 1},
                },
            }
        ]
    }
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(notification))
    messages = arrivals(stack, 1)
    assert processor.handler(sqs_event(messages, stack.queue_arn), LambdaContext()) == {
        "batchItemFailures": []
    }
    [image] = rt.catalog.list_images(ImageQuery(owner="alice"))
    assert image.status is ImageStatus.COMPLETED, image.error
    assert image.filename == "a b.png"
    [event] = inventory(stack)
    assert (event["detail"]["width"], event["detail"]["height"]) == (600, 400)


def test_deploy_synth_with_the_catalog_recipe(tmp_path: Path) -> None:
    from tests.test_deploy import synthesize

    synth = synthesize({"recipe": "catalog", "pipeline": "stepfunctions"}, tmp_path)
    machine = synth.one("AWS::StepFunctions::StateMachine")
    definition = json.dumps(machine["DefinitionString"])
    assert all(step in definition for step in ("standardise", "garments", "colours", "inventory"))
    synth.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "Name": "darkroom-dev-InventoryImageProcessed",
            "EventPattern": {
                "source": [{"prefix": "darkroom."}],
                "detail-type": ["InventoryImageProcessed"],
            },
        },
    )
    environment = synth.functions()["processor"]["Environment"]["Variables"]
    assert environment["DARKROOM_RECIPE"] == "catalog"
