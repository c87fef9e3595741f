"""Secrets read at run time (adapters/aws/secrets.py) against moto's Secrets Manager over HTTP:
they reach the environment the settings read, a rotation is seen, and forgetting them puts the
environment back as it was (a leaked DARKROOM_DATABASE once pointed every later test's runtime
at another test's database)."""

from __future__ import annotations

import json
import os
import uuid

import boto3
import pytest

from darkroom.adapters.aws.secrets import SECRETS_VARIABLE, SecretValues

pytestmark = pytest.mark.usefixtures("aws_credentials")


@pytest.fixture
def secret_arn(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint)
    made = client.create_secret(Name=f"presign-{uuid.uuid4().hex}", SecretString="first-value")
    return str(made["ARN"])


def test_secrets_reach_the_environment_and_clear_puts_it_back(
    secret_arn: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DARKROOM_SECRETS_MAX_AGE_SECONDS", "0")
    monkeypatch.setenv("DARKROOM_LLM_API_KEY", "the operator's own")
    monkeypatch.delenv("DARKROOM_SECRET_KEY", raising=False)
    monkeypatch.setenv(
        SECRETS_VARIABLE,
        json.dumps({"DARKROOM_SECRET_KEY": secret_arn, "DARKROOM_LLM_API_KEY": secret_arn}),
    )
    values = SecretValues()
    assert values.refresh() is True
    assert os.environ["DARKROOM_SECRET_KEY"] == "first-value"
    assert os.environ["DARKROOM_LLM_API_KEY"] == "first-value"
    assert values.refresh() is False  # unchanged: the Runtime is kept

    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint)
    client.put_secret_value(SecretId=secret_arn, SecretString="rotated")
    assert values.refresh() is True
    assert os.environ["DARKROOM_SECRET_KEY"] == "rotated"

    values.clear()
    assert "DARKROOM_SECRET_KEY" not in os.environ
    assert os.environ["DARKROOM_LLM_API_KEY"] == "the operator's own"
