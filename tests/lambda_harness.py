"""What the Lambda tests need around the handlers: a darkroom stack on moto's server (bucket,
queue with its DLQ, DetectionLogs table, event bus with a rule to a queue, topic with a queue
subscribed), a Lambda context, and SQS deliveries the way Lambda's event source makes them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3

REGION = "us-east-1"
Container = Callable[[dict[str, str]], None]  # conftest's lambda_container fixture


@dataclass(frozen=True)
class LambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name: str = "darkroom-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:darkroom-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def read_back_events(events: Any, sqs: Any, bus: str, queue_name: str) -> str:
    """A queue of the test's own that a rule sends every darkroom event on `bus` to: its URL."""
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="all-darkroom",
        EventBusName=bus,
        EventPattern=json.dumps({"source": [{"prefix": "darkroom."}]}),
    )
    events.put_targets(
        Rule="all-darkroom", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}]
    )
    return str(url)


@dataclass
class Stack:
    """One test's resources, named uniquely: moto's server is shared by the module."""

    endpoint: str
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        kwargs: dict[str, Any] = {"endpoint_url": self.endpoint, "region_name": REGION}
        self.s3 = boto3.client("s3", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        self.dynamodb = boto3.client("dynamodb", **kwargs)
        self.events = boto3.client("events", **kwargs)
        self.sns = boto3.client("sns", **kwargs)
        self.bucket = f"pics-{self.suffix}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.dlq_url, self.dlq_arn = self._queue(f"intake-dlq-{self.suffix}")
        self.queue_name = f"intake-{self.suffix}"
        self.queue_url, self.queue_arn = self._queue(
            self.queue_name,
            RedrivePolicy=json.dumps({"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": 5}),
            VisibilityTimeout="30",
        )
        self.table = f"DetectionLogs-{self.suffix}"
        self.dynamodb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "ImageID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "ImageID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.dynamodb.update_time_to_live(
            TableName=self.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ExpiresAt"},
        )
        self.bus = f"darkroom-{self.suffix}"
        self.events.create_event_bus(Name=self.bus)
        self.events_url = read_back_events(self.events, self.sqs, self.bus, f"events-{self.suffix}")
        self.topic_arn = self.sns.create_topic(Name=f"uncertain-{self.suffix}")["TopicArn"]
        self.notes_url, notes_arn = self._queue(f"notes-{self.suffix}")
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=notes_arn)

    def _queue(self, name: str, **attributes: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    def environment(self) -> dict[str, str]:
        """The contract's settings for this stack."""
        return {
            "DARKROOM_STORAGE": f"s3://{self.bucket}",
            "DARKROOM_QUEUE": f"sqs://{self.queue_name}",
            "DARKROOM_BUS": f"eventbridge://{self.bus}",
            "DARKROOM_NOTIFIER": f"sns://{self.topic_arn}",
            "DARKROOM_DETECTION_LOG": f"dynamodb://{self.table}",
        }

    def container(self, home: Path, recipe: str) -> dict[str, str]:
        """A Lambda container's environment on this stack: the contract's settings, moto's
        endpoint, the home and the default recipe, and Powertools' names."""
        return {
            **self.environment(),
            "AWS_ENDPOINT_URL": self.endpoint,
            "DARKROOM_HOME": str(home),
            "DARKROOM_RECIPE": recipe,
            "DARKROOM_SECRET_KEY": "lambda-test-secret",
            "POWERTOOLS_SERVICE_NAME": "darkroom",
            "POWERTOOLS_METRICS_NAMESPACE": "darkroom",
        }

    # wiring S3 notifications the way a deployment does

    def notify_queue(self, prefix: str = "input/") -> None:
        """Bucket -> SQS, for objects under `prefix` only."""
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": self.queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                    }
                ]
            },
        )

    def notify_topic(self) -> None:
        """Bucket -> SNS -> SQS: the queue receives SNS notifications wrapping the S3 event."""
        topic = self.sns.create_topic(Name=f"uploads-{self.suffix}")["TopicArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=self.queue_arn)
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "TopicConfigurations": [
                    {
                        "TopicArn": topic,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"}]}},
                    }
                ]
            },
        )

    def notify_eventbridge(self) -> None:
        """Bucket -> EventBridge ("Object Created" on the default bus) -> a rule -> SQS."""
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        rule = f"originals-{self.suffix}"
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [self.bucket]},
                "object": {"key": [{"prefix": "input/"}]},
            },
        }
        self.events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=rule, Targets=[{"Id": "intake", "Arn": self.queue_arn}])

    # reading back

    def receive(self, url: str, wait: float = 0.0, limit: int = 10) -> list[dict[str, Any]]:
        """Every message visible now (or within `wait` seconds), received and so hidden."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while len(found) < limit:
            answer = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(found)),
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = answer.get("Messages", [])
            found.extend(messages)
            if not messages and (found or time.monotonic() > deadline):
                break
            if not messages:
                time.sleep(0.05)
        return found

    def bodies(self, url: str) -> list[dict[str, Any]]:
        """Message bodies of a read-back queue, deleted once read."""
        messages = self.receive(url, wait=0.5, limit=100)
        for message in messages:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in messages]

    def events_of(self, image_id: str) -> list[dict[str, Any]]:
        return [e for e in self.bodies(self.events_url) if e["detail"].get("image_id") == image_id]

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def detection(self, image_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(TableName=self.table, Key={"ImageID": {"S": image_id}})
        return item.get("Item")


def object_created(
    bucket: str, key: str, size: int, etag: str, sequencer: str = "617f08299329d189"
) -> dict[str, Any]:
    """The EventBridge event S3 sends when an object is created (the key as it is, not
    URL-encoded), as a rule's target or a state machine's input carries it."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag, "sequencer": sequencer},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(message, queue_arn) for message in messages]}


class Intake(Protocol):
    """A stack's intake queue, as the processor's event source reads it (Stack, TemplateStack)."""

    sqs: Any
    queue_url: str
    queue_arn: str


def arrivals(stack: Intake, count: int) -> list[dict[str, Any]]:
    """The next `count` notifications about objects on the intake queue (S3's test events are
    dropped here; the handler's reading of them is tested in test_lambda_messages)."""
    found: list[dict[str, Any]] = []
    for _ in range(20):
        answer = stack.sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        for message in answer.get("Messages", []):
            if "s3:TestEvent" in message["Body"]:
                stack.sqs.delete_message(
                    QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            else:
                found.append(message)
        if len(found) >= count:
            return found
    raise AssertionError(f"expected {count} notifications, got {len(found)}")


def deliver(stack: Intake, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What Lambda's SQS event source does: hand the batch to the processor, then delete the
    messages of the records that did not fail."""
    from darkroom.lambdas import processor

    answer: dict[str, Any] = processor.handler(
        sqs_event(messages, stack.queue_arn), LambdaContext()
    )
    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            stack.sqs.delete_message(
                QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    return answer
