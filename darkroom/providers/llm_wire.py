"""The `llm` analyzer's two wire formats: the request for each service (headers, the opening
message with the picture, the body asking for JSON), what its answer holds, and how a wrong
answer is sent back. The asking, checking and retrying is in llm.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from darkroom.providers.llm import LlmOptions

ANTHROPIC_VERSION = "2023-06-01"
TOOL = "record_analysis"


def strict_compatible(schema: Any) -> bool:
    """OpenAI's strict mode needs every object closed (additionalProperties false) with all its
    properties required; anything else is sent non-strict (and still validated, by llm.check)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            if schema.get("additionalProperties") is not False:
                return False
            if set(schema.get("required", [])) != set(properties):
                return False
        return all(strict_compatible(value) for value in schema.values())
    if isinstance(schema, list):
        return all(strict_compatible(item) for item in schema)
    return True


class Wire(Protocol):
    path: str

    def headers(self, secret: str | None) -> dict[str, str]: ...
    def opening(
        self, image: str, media_type: str, prompt: str, schema: dict[str, Any]
    ) -> list[dict[str, Any]]: ...
    def body(
        self, model: str, messages: list[dict[str, Any]], schema: dict[str, Any]
    ) -> dict[str, Any]: ...
    def read(self, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The candidate answer (text or object) and the assistant turn to send back."""
        ...

    def correction(self, turn: dict[str, Any], error: str) -> list[dict[str, Any]]: ...


class OpenAiChat:
    path = "/chat/completions"

    def __init__(self, options: LlmOptions) -> None:
        self.options = options

    def headers(self, secret: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def opening(
        self, image: str, media_type: str, prompt: str, schema: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = prompt
        if self.options.response_format != "json_schema":  # the service will not see the schema
            text += "\n\nThe JSON schema the answer must fit:\n" + json.dumps(schema)
        return [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": f"data:{media_type};base64,{image}",
                            "detail": self.options.detail,
                        },
                    },
                ],
            }
        ]

    def body(
        self, model: str, messages: list[dict[str, Any]], schema: dict[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": self.options.max_tokens,
        }
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        if self.options.response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "analysis",
                    "schema": schema,
                    "strict": strict_compatible(schema),
                },
            }
        elif self.options.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def read(self, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            return _NO_MESSAGE, {"role": "assistant", "content": ""}
        content = message.get("content")
        if not content and message.get("refusal"):
            return f"(refused: {message['refusal']})", {"role": "assistant", "content": ""}
        text = content if isinstance(content, str) else json.dumps(content)
        return text, {"role": "assistant", "content": text}

    def correction(self, turn: dict[str, Any], error: str) -> list[dict[str, Any]]:
        return [
            turn,
            {
                "role": "user",
                "content": f"That answer is invalid: {error}. Answer again with only the JSON "
                "object, fitting the schema.",
            },
        ]


_NO_MESSAGE = "(the service's answer held no message)"


class AnthropicMessages:
    path = "/v1/messages"

    def __init__(self, options: LlmOptions) -> None:
        self.options = options

    def headers(self, secret: str | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if secret:
            headers["x-api-key"] = secret
        return headers

    def opening(
        self, image: str, media_type: str, prompt: str, schema: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return [
            {
                "role": "user",
                "content": [  # the picture before the words, as Anthropic advises
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": media_type, "data": image},
                    },
                    {"type": "text", "text": f"{prompt}\n\nRecord your answer with {TOOL}."},
                ],
            }
        ]

    def body(
        self, model: str, messages: list[dict[str, Any]], schema: dict[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": self.options.max_tokens,
            "messages": messages,
            "tools": [
                {
                    "name": TOOL,
                    "description": "Record the analysis of the picture. Its input is the "
                    "answer, and must fit the input schema exactly.",
                    "input_schema": schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": TOOL},
        }
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        return body

    def read(self, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            return _NO_MESSAGE, {"role": "assistant", "content": [{"type": "text", "text": "?"}]}
        turn = {"role": "assistant", "content": blocks}
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                return block.get("input"), turn
        text = "".join(
            str(b.get("text", ""))
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "text"
        )
        return text or _NO_MESSAGE, turn

    def correction(self, turn: dict[str, Any], error: str) -> list[dict[str, Any]]:
        calls = [
            block
            for block in turn["content"]
            if isinstance(block, dict) and block.get("type") == "tool_use"
        ]
        advice = f"Invalid: {error}. Call {TOOL} again with input that fits the schema."
        if calls:  # the API's own way to say a tool call was wrong
            reply: list[dict[str, Any]] = [
                {
                    "type": "tool_result",
                    "tool_use_id": calls[0].get("id", ""),
                    "is_error": True,
                    "content": advice,
                }
            ]
        else:
            reply = [{"type": "text", "text": advice}]
        return [turn, {"role": "user", "content": reply}]
