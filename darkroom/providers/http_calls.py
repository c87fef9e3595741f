"""Calling a model service over HTTP, as the `llm` and `http` embeddings providers do.

What may pass is retried here with exponential backoff and jitter: 429, 5xx (and Anthropic's
529), timeouts and dropped connections; a Retry-After header is honoured. What will not pass
fails at once with a clear reason: a refused key (401, 403) or any other 4xx. The API key is
sent in a header and never appears in an error message or a log line: error text from the
service is scrubbed of it too (OpenAI's 401 message quotes part of the key, so a refused key's
message is never repeated at all).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from darkroom.domain.errors import Permanent

log = logging.getLogger("darkroom.providers.http")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


class ServiceUnavailable(Exception):
    """The service did not answer usefully after every retry: worth trying again later."""


class ServiceRefused(Permanent):
    """The service refused the request (a bad key, a bad request): trying again will not help."""


@dataclass(frozen=True)
class CallPolicy:
    max_retries: int = 3  # after the first request
    backoff_seconds: float = 0.5  # the first wait's ceiling, doubling each time (full jitter)
    backoff_max_seconds: float = 20.0
    # A Retry-After longer than this gives up here; the engine retries the step later instead
    # of a worker sleeping through it.
    max_retry_after_seconds: float = 120.0

    def backoff(self, retry: int) -> float:
        ceiling = min(self.backoff_max_seconds, self.backoff_seconds * 2**retry)
        return random.uniform(ceiling / 2, ceiling)


class ServiceClient:
    """POSTs JSON to one service and answers its JSON, retrying what may pass."""

    def __init__(
        self,
        service: str,
        base_url: str,
        headers: dict[str, str],
        *,
        secret: str | None,
        key_hint: str,
        timeout: float,
        policy: CallPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.secret = secret
        self.key_hint = key_hint  # where the key comes from, to say in an auth error
        self.timeout = timeout
        self.policy = policy
        self.sleep = sleep
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        problem = ""
        for retry in range(self.policy.max_retries + 1):
            wait: float | None = None
            try:
                response = self.http.post(path, json=body)
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"cannot reach the service ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 300:
                    answer = _json_object(response)
                    if answer is not None:
                        return answer
                    problem = f"HTTP {status} with a body that is not a JSON object"
                elif status in (401, 403):
                    raise ServiceRefused(
                        f"{self.service}: the API key was refused (HTTP {status}); "
                        f"check {self.key_hint}"
                    )
                elif status in RETRYABLE_STATUS:
                    problem = f"HTTP {status}: {self._reason(response)}"
                    wait = retry_after(response)
                else:
                    raise ServiceRefused(
                        f"{self.service}: request refused (HTTP {status}): {self._reason(response)}"
                    )
            if retry == self.policy.max_retries:
                break
            delay = wait if wait is not None else self.policy.backoff(retry)
            if delay > self.policy.max_retry_after_seconds:
                raise ServiceUnavailable(
                    f"{self.service}: {problem}; asked to wait {delay:g} s, more than "
                    f"{self.policy.max_retry_after_seconds:g} s"
                )
            log.warning(
                "model service call failed, retrying",
                extra={"service": self.service, "problem": problem, "wait": round(delay, 3)},
            )
            self.sleep(delay)
        raise ServiceUnavailable(
            f"{self.service}: {problem} (after {self.policy.max_retries + 1} attempts)"
        )

    def _reason(self, response: httpx.Response) -> str:
        """The service's own message (OpenAI, Anthropic and Voyage error shapes), short, and
        scrubbed of the key."""
        try:
            data = response.json()
        except ValueError:
            text = response.text
        else:
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, dict):
                text = str(error.get("message") or error.get("type") or error)
            elif isinstance(data, dict) and ("detail" in data or "message" in data):
                text = str(data.get("detail") or data.get("message"))
            else:
                text = str(error or data)
        return redact(" ".join(text.split())[:300] or response.reason_phrase, self.secret)

    def close(self) -> None:
        self.http.close()


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the service asks to wait: retry-after-ms (OpenAI), Retry-After in seconds or as
    an HTTP date."""
    millis = response.headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        return text.replace(secret, "[redacted]")
    return text
