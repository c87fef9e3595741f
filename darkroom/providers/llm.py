"""The `llm` analyzer: a vision model asked for a JSON answer held to a schema.

Two wire formats (llm_wire.py), through httpx:
- OpenAI-compatible chat completions (`POST {base}/chat/completions`): the picture as a base64
  data URL in an `image_url` part; `response_format: json_schema` (strict when the schema
  allows it) makes the service itself hold the answer to the schema. The base URL is a
  setting, so any compatible server (vLLM, Ollama, llama.cpp, a proxy) works; for one without
  structured outputs, `response_format: json_object` or `none` puts the schema in the prompt.
- Anthropic messages (`POST {base}/v1/messages`): the picture as a base64 image source, and the
  schema as the `input_schema` of one tool the model is made to call (`tool_choice`). A tool
  call arrives as an already-parsed object (no prose or code fences to strip), and a wrong one
  can be answered the way the API defines, with an `is_error` tool result: the model sees its
  own call and what was wrong with it.

Every answer is validated here with `jsonschema`, whatever the service promised. One that does
not fit (malformed JSON, a schema mismatch) is sent back with the validation error, up to
`attempts` answers; then the analysis fails with the last reason. Keys come from the recipe's
`api_key_env`, else DARKROOM_<SERVICE>_API_KEY, else <SERVICE>_API_KEY.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import time
from typing import Any, Literal

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.domain.errors import Permanent
from darkroom.ports import AnalyzerAnswer
from darkroom.providers.http_calls import CallPolicy, ServiceClient
from darkroom.providers.llm_wire import AnthropicMessages, OpenAiChat, Wire
from darkroom.settings import ApiKeys, LlmSettings

log = logging.getLogger("darkroom.providers.llm")

Api = Literal["openai", "anthropic"]
DEFAULT_BASE_URL: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
DEFAULT_MODEL: dict[str, str] = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}

LLM_KEY_WAYS = (
    "DARKROOM_OPENAI_API_KEY or OPENAI_API_KEY (OpenAI), DARKROOM_ANTHROPIC_API_KEY or "
    "ANTHROPIC_API_KEY (Anthropic), or DARKROOM_LLM_BASE_URL (an OpenAI-compatible server of "
    "your own, such as vLLM or Ollama, which may need no key)"
)


class InvalidAnswer(Permanent):
    """The model never gave an answer that fits the schema."""


class MissingKey(Permanent):
    """No API key is configured for the service."""


class LlmOptions(BaseModel):
    """A recipe's `options` for the llm analyzer; unset ones come from DARKROOM_LLM_*."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api: Api | None = Field(default=None, description="openai (and compatible) or anthropic")
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None, description="name of the variable holding the key (another server's)"
    )
    timeout_seconds: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10, description="HTTP retries per request")
    backoff_seconds: float = Field(default=0.5, ge=0)
    attempts: int = Field(default=3, ge=1, le=10, description="answers until one fits")
    max_tokens: int = Field(default=1024, ge=16, le=65536)
    temperature: float | None = Field(default=None, ge=0, le=2)
    response_format: Literal["json_schema", "json_object", "none"] = Field(
        default="json_schema", description="OpenAI-compatible servers: how JSON is asked for"
    )
    detail: Literal["auto", "low", "high"] = Field(
        default="auto", description="OpenAI image detail"
    )


class LlmAnalyzer:
    def __init__(self, options: dict[str, Any]) -> None:
        try:
            opts = LlmOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(f"llm options: {exc}") from None
        defaults = LlmSettings()
        keys = ApiKeys()
        api: Api = opts.api or defaults.api or _api_with_a_key(keys)
        self.api = api
        self.name = f"llm:{api}"
        self.model = opts.model or defaults.model or DEFAULT_MODEL[api]
        self.options = opts
        base_url = (opts.base_url or defaults.base_url or DEFAULT_BASE_URL[api]).rstrip("/")
        self.custom_server = base_url != DEFAULT_BASE_URL[api]
        if opts.api_key_env:
            secret = os.environ.get(opts.api_key_env) or None
            self.key_hint = opts.api_key_env
        else:
            stored = keys.openai if api == "openai" else keys.anthropic
            secret = stored.get_secret_value() if stored is not None else None
            self.key_hint = f"DARKROOM_{api.upper()}_API_KEY or {api.upper()}_API_KEY"
        self.has_key = secret is not None
        self.wire: Wire = OpenAiChat(opts) if api == "openai" else AnthropicMessages(opts)
        self.client = ServiceClient(
            self.name,
            base_url,
            self.wire.headers(secret),
            secret=secret,
            key_hint=self.key_hint,
            timeout=opts.timeout_seconds or defaults.timeout_seconds,
            policy=CallPolicy(max_retries=opts.max_retries, backoff_seconds=opts.backoff_seconds),
        )

    def missing_key(self) -> str | None:
        """Why this analyzer cannot run here, naming every way to fix it; None when it can. A
        server of your own may need no key; the public services always do."""
        if self.has_key or self.custom_server:
            return None
        if self.options.api_key_env:
            return f"{self.name}: no API key; set {self.key_hint}"
        return f"{self.name}: no API key; set {LLM_KEY_WAYS}"

    @property
    def configured(self) -> bool:
        """Worth asking: a key is set, or the server is one's own (which may need none)."""
        return self.has_key or self.custom_server

    def analyze(
        self,
        picture: bytes,
        media_type: str,
        prompt: str,
        schema: dict[str, Any],
        accept: dict[str, Any] | None = None,
    ) -> AnalyzerAnswer:
        """`accept`: the schema answers are held to, when looser than the one the model is given
        (a caller that maps words outside an enum itself); default: `schema`."""
        missing = self.missing_key()
        if missing is not None:
            raise MissingKey(missing)
        validator = Draft202012Validator(accept if accept is not None else schema)
        started = time.monotonic()
        image = base64.b64encode(picture).decode("ascii")
        messages = self.wire.opening(image, media_type, prompt, schema)
        last_error = ""
        for attempt in range(1, self.options.attempts + 1):
            data = self.client.post(self.wire.path, self.wire.body(self.model, messages, schema))
            candidate, turn = self.wire.read(data)
            result, last_error = check(candidate, validator)
            if result is not None:
                model = data.get("model")
                return AnalyzerAnswer(
                    result=result,
                    model=model if isinstance(model, str) and model else self.model,
                    seconds=time.monotonic() - started,
                    attempts=attempt,
                )
            log.info(
                "answer does not fit the schema, asking again",
                extra={"provider": self.name, "attempt": attempt, "error": last_error},
            )
            messages = [*messages, *self.wire.correction(turn, last_error)]
        raise InvalidAnswer(
            f"{self.name}: no answer fitted the schema in {self.options.attempts} attempts; "
            f"last: {last_error}"
        )


def _api_with_a_key(keys: ApiKeys) -> Api:
    """The service whose key is set (OpenAI when both or neither are)."""
    return "anthropic" if keys.anthropic is not None and keys.openai is None else "openai"


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def check(candidate: Any, validator: Draft202012Validator) -> tuple[dict[str, Any] | None, str]:
    """The answer as a JSON object valid against the schema, or None and what is wrong."""
    if isinstance(candidate, str):
        text = candidate.strip()
        fenced = _FENCE.match(text)
        if fenced:  # models without structured outputs like to wrap JSON in a code fence
            text = fenced.group(1)
        try:
            candidate = json.loads(text)
        except ValueError as exc:
            return None, f"not valid JSON ({exc})"
    if not isinstance(candidate, dict):
        return None, f"the answer is a JSON {type(candidate).__name__}, not an object"
    errors = sorted(validator.iter_errors(candidate), key=lambda e: list(e.absolute_path))
    if errors:
        described = [
            f"{'/'.join(str(part) for part in e.absolute_path) or 'the answer'}: {e.message}"
            for e in errors[:5]
        ]
        return None, "does not fit the schema: " + "; ".join(described)
    return candidate, ""
