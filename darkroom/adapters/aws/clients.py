"""boto3 clients, built one way: endpoint and region come from boto3's own environment
(AWS_ENDPOINT_URL, AWS_DEFAULT_REGION), so tests point them at moto and a worker on a laptop
reaches the real services with the same code."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode: throttling and transient errors are retried with backoff by botocore.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
