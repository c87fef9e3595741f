"""Reading what an SQS message carries to the processor: every body shape, keys decoded."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from darkroom.lambdas.messages import BadMessage, StoredObject, parse_body
from tests.lambda_harness import object_created

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def s3_event(key: str, *, name: str = "ObjectCreated:Put", size: int = 1234) -> dict[str, object]:
    """The documented S3 event notification shape (keys URL-encoded, form style)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2024-05-01T12:00:00.000Z",
                "eventName": name,
                "userIdentity": {"principalId": "EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "1", "x-amz-id-2": "2"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "originals",
                    "bucket": {
                        "name": "pics",
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": "arn:aws:s3:::pics",
                    },
                    "object": {"key": key, "size": size, "eTag": "abc", "sequencer": "0A1B"},
                },
            }
        ]
    }


def test_direct_s3_notification_keys_are_url_decoded() -> None:
    body = json.dumps(s3_event("input/alice/my+cat+%282%29%2B1.jpg"))
    message = parse_body(body)
    assert message.objects == (
        StoredObject("pics", "input/alice/my cat (2)+1.jpg", 1234, "abc", T0),
    )


def test_sns_wrapped_notification_is_unwrapped() -> None:
    sns = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
        "Subject": "Amazon S3 Notification",
        "Message": json.dumps(s3_event("input/bob/dog.png")),
        "Timestamp": "2024-05-01T12:00:00.000Z",
    }
    assert parse_body(json.dumps(sns)).objects[0].key == "input/bob/dog.png"


def test_eventbridge_object_created_keeps_the_key_as_it_is() -> None:
    event = object_created("pics", "input/alice/a+b.jpg", size=5, etag="e1")
    assert parse_body(json.dumps(event)).objects == (
        StoredObject("pics", "input/alice/a+b.jpg", 5, "e1", T0),
    )
    event["detail-type"] = "Object Deleted"
    assert parse_body(json.dumps(event)).ignored == "S3 'Object Deleted' event"


def test_removals_and_test_events_carry_nothing() -> None:
    assert parse_body(json.dumps(s3_event("input/a/b.jpg", name="ObjectRemoved:Delete"))).ignored
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "pics"}
    assert parse_body(json.dumps(test_event)).ignored == "S3 test event"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"hello": "world"}', "not an S3, SNS, EventBridge or job message"),
        ('{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}', "'s3'"),
    ],
)
def test_unreadable_bodies_are_named(body: str, problem: str) -> None:
    with pytest.raises(BadMessage, match=problem):
        parse_body(body)
