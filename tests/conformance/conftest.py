"""AWS for the conformance suite: boto3 pointed at the run's moto server (tests/conftest.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

REGION = "us-east-1"


@pytest.fixture
def aws(moto_endpoint: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3's own environment pointed at moto: the adapters build their clients from it."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return boto3.session.Session()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sqs_queue_with_dlq(aws: Any, visibility: int = 30) -> str:
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    name = unique("jobs")
    sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": 50}
            ),
        },
    )
    return name
