"""A portrait model behind the SageMaker inference contract: `POST /invocations` with JSON,
`GET /ping` for health. Locally any HTTP URL (DARKROOM_PORTRAITS_ENDPOINT_URL); on AWS the
endpoint by name through sagemaker-runtime InvokeEndpoint (DARKROOM_PORTRAITS_ENDPOINT_NAME).

The request: {"image": base64 JPEG of the face crop, "content_type": "image/jpeg", "style",
"gender"}. The answer: {"image": base64 picture, "content_type"?, "model_version"?,
"links"?: [{"title", "url"}]}. Throttling (429), 5xx and timeouts are retried with backoff
(http_calls.py); a refused request (other 4xx) and an answer that is not a picture fail at once
with the reason (Permanent).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import time
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.domain.errors import Permanent
from darkroom.ports import Stylised
from darkroom.providers.http_calls import CallPolicy, ServiceClient
from darkroom.settings import PortraitSettings

MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class EndpointOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, description="base URL; /invocations is appended")
    endpoint_name: str | None = Field(default=None, description="SageMaker endpoint name")
    region: str | None = None
    endpoint_url: str | None = Field(default=None, description="sagemaker-runtime URL (a fake)")
    timeout_seconds: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0)
    styles: list[str] | None = Field(default=None, description="styles the model knows")


def request_body(face: bytes, style: str, gender: str | None) -> dict[str, Any]:
    return {
        "image": base64.b64encode(face).decode("ascii"),
        "content_type": "image/jpeg",
        "style": style,
        "gender": gender,
    }


def portrait_from(answer: dict[str, Any], provider: str, seconds: float, attempts: int) -> Stylised:
    """The answer's picture, checked to be one, with what the model said about itself."""
    encoded = answer.get("image")
    if not isinstance(encoded, str) or not encoded:
        raise Permanent(f"{provider}: the answer has no 'image' (base64 picture)")
    try:
        data = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(data)) as picture:
            picture.verify()
            kind = picture.format or ""
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as exc:
        raise Permanent(f"{provider}: the answered 'image' is not a picture ({exc})") from None
    if kind not in MEDIA_TYPES:
        raise Permanent(f"{provider}: the answered picture is {kind or 'of no known format'}")
    links = answer.get("links") or []
    version = answer.get("model_version")
    return Stylised(
        image=data,
        media_type=MEDIA_TYPES[kind],
        provider=provider,
        model_version=str(version) if version is not None else None,
        seconds=seconds,
        attempts=attempts,
        links=tuple(
            {"title": str(link.get("title", "")), "url": str(link["url"])}
            for link in links
            if isinstance(link, dict) and isinstance(link.get("url"), str)
        ),
    )


def _options(options: dict[str, Any]) -> EndpointOptions:
    try:
        return EndpointOptions.model_validate(options)
    except ValidationError as exc:
        raise ValueError(f"endpoint options: {exc}") from None


class HttpEndpointStylist:
    """Any HTTP server speaking the contract (a SageMaker container run locally, a fake)."""

    def __init__(self, options: dict[str, Any]) -> None:
        defaults = PortraitSettings()
        self.options = _options(options)
        url = self.options.url or defaults.endpoint_url
        if not url:
            raise ValueError(
                "endpoint stylist: no URL (set DARKROOM_PORTRAITS_ENDPOINT_URL or the option url)"
            )
        self.url = url.rstrip("/")
        self.name = f"endpoint:{self.url}"
        self.timeout = self.options.timeout_seconds or defaults.endpoint_timeout_seconds
        self.policy = CallPolicy(
            max_retries=self.options.max_retries, backoff_seconds=self.options.backoff_seconds
        )

    def styles(self) -> list[str] | None:
        return self.options.styles

    def stylise(self, face: bytes, style: str, gender: str | None) -> Stylised:
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # each wait is one more attempt
            waits.append(seconds)
            time.sleep(seconds)

        client = ServiceClient(
            "portrait endpoint",
            self.url,
            {"Accept": "application/json"},
            secret=None,
            key_hint="the endpoint's access",
            timeout=self.timeout,
            policy=self.policy,
            sleep=sleep,
        )
        started = time.perf_counter()
        try:
            answer = client.post("/invocations", request_body(face, style, gender))
        finally:
            client.close()
        return portrait_from(answer, self.name, time.perf_counter() - started, len(waits) + 1)


# What sagemaker-runtime answers when the model itself refused the input (its 4xx).
_REFUSED = {"ModelError", "ValidationError", "ValidationException"}


class SageMakerStylist:
    """The endpoint by name on AWS (sagemaker-runtime InvokeEndpoint). botocore retries
    throttling itself; a model error is a refusal with the model's message."""

    def __init__(self, options: dict[str, Any], client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        defaults = PortraitSettings()
        self.options = _options(options)
        name = self.options.endpoint_name or defaults.endpoint_name
        if not name:
            raise ValueError(
                "sagemaker stylist: no endpoint (set DARKROOM_PORTRAITS_ENDPOINT_NAME or the "
                "option endpoint_name)"
            )
        self.endpoint_name = name
        self.name = f"sagemaker:{name}"
        timeout = self.options.timeout_seconds or defaults.endpoint_timeout_seconds
        self.client = client or boto3.client(
            "sagemaker-runtime",
            region_name=self.options.region or defaults.endpoint_region,
            endpoint_url=self.options.endpoint_url,
            config=Config(
                read_timeout=timeout,
                retries={"mode": "standard", "max_attempts": self.options.max_retries + 1},
            ),
        )

    def styles(self) -> list[str] | None:
        return self.options.styles

    def stylise(self, face: bytes, style: str, gender: str | None) -> Stylised:
        from botocore.exceptions import ClientError

        started = time.perf_counter()
        try:
            answer = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(request_body(face, style, gender)).encode(),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in _REFUSED:
                raise Permanent(
                    f"{self.name}: request refused: {error.get('Message', error.get('Code'))}"
                ) from None
            raise
        attempts = int(answer.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
        try:
            body = json.loads(answer["Body"].read())
        except ValueError as exc:
            raise Permanent(f"{self.name}: the answer is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise Permanent(f"{self.name}: the answer is not a JSON object")
        return portrait_from(body, self.name, time.perf_counter() - started, attempts)
