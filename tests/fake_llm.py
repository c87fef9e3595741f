"""A fake model service on a loopback port: a real HTTP server answering in the published shapes
of OpenAI chat completions (choices[0].message.content), Anthropic messages (content blocks,
tool_use), and OpenAI and Voyage embeddings (data[i].embedding).

It "sees" the picture it is sent (its dominant colour: red is a cat on a blanket, blue a dog on
a beach, green a fern), so different pictures get different analyses the tests can plan for,
and it embeds text as a bag of concepts (a kitten is a cat), so search by meaning finds what
shares no word with the query.

Scripted misbehaviour, one step per request, then good answers again: `fail(429,
retry_after="1")`, `fail(500)`, `fail(401)`, `stall(seconds)` (past the client's timeout),
`malformed()`, `invalid()` (an answer that breaks the schema), `reply(answer)` (this JSON
answer, a dict, or raw text, whatever the picture shows).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

from tests import loopback
from tests.loopback import QuietHandler
from tests.server import free_port

SCENES: dict[str, dict[str, Any]] = {
    "red": {
        "category": "pet",
        "summary": "A ginger cat asleep on a red woollen blanket.",
        "objects": ["cat", "blanket"],
        "colours": ["red", "orange"],
        "text_seen": [],
        "tags": ["cat", "sleeping", "cosy"],
    },
    "blue": {
        "category": "pet",
        "summary": "A dog running along a sandy beach by the sea.",
        "objects": ["dog", "sea", "sand"],
        "colours": ["blue", "yellow"],
        "text_seen": ["NO SWIMMING"],
        "tags": ["dog", "beach", "holiday"],
    },
    "green": {
        "category": "plant",
        "summary": "A fern unfurling in a shady woodland garden.",
        "objects": ["fern", "leaves"],
        "colours": ["green"],
        "text_seen": [],
        "tags": ["fern", "garden", "nature"],
    },
    "grey": {
        "category": "other",
        "summary": "An abstract pattern of soft shapes.",
        "objects": [],
        "colours": ["grey"],
        "text_seen": [],
        "tags": ["abstract"],
    },
}
# Words that mean the same thing embed the same: the meaning the fake embedder knows.
CONCEPTS = {
    "kitten": "cat",
    "kitty": "cat",
    "feline": "cat",
    "puppy": "dog",
    "hound": "dog",
    "canine": "dog",
    "seaside": "beach",
    "shore": "beach",
    "coast": "beach",
    "ocean": "sea",
    "plant": "fern",
    "foliage": "leaves",
}
WORD = re.compile(r"[a-z]+")


def embed_text(text: str, dim: int) -> list[float]:
    """A bag of concepts, hashed into `dim` dimensions: shared meaning, high cosine."""
    vector = np.zeros(dim)
    for word in WORD.findall(text.lower()):
        concept = CONCEPTS.get(word, word)
        digest = hashlib.sha256(concept.encode()).digest()
        vector[int.from_bytes(digest[:4], "little") % dim] += 1.0
    return [float(v) for v in vector]


def scene_of(picture: bytes) -> tuple[str, tuple[int, int]]:
    """The dominant colour of a picture, and its size."""
    with Image.open(io.BytesIO(picture)) as img:
        size = img.size
        means = np.asarray(img.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0)
    channel = int(np.argmax(means))
    if means[channel] - np.sort(means)[-2] < 40:
        return "grey", size
    return ("red", "green", "blue")[channel], size


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeModelService:
    port: int = field(default_factory=free_port)
    script: deque[tuple[str, Any]] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    pictures: list[tuple[str, tuple[int, int]]] = field(default_factory=list)  # scene, size
    model: str = "fake-vision-1"
    extra_tags: list[str] = field(default_factory=list)  # added to every analysis's tags
    generation: int = 0
    _server: ThreadingHTTPServer | None = None

    def reset(self) -> None:
        self.generation += 1  # a request still stalled from before records nothing now
        self.script.clear()
        self.requests.clear()
        self.pictures.clear()
        self.model = "fake-vision-1"
        self.extra_tags = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # scripting

    def fail(
        self, status: int, retry_after: str | None = None, echo_key: bool = False
    ) -> FakeModelService:
        """Answer `status`; with echo_key, quote the key sent in the message, as OpenAI's 401
        does (partly) and a careless proxy might (wholly)."""
        self.script.append(("status", (status, retry_after, echo_key)))
        return self

    def stall(self, seconds: float) -> FakeModelService:
        self.script.append(("stall", seconds))
        return self

    def malformed(self) -> FakeModelService:
        self.script.append(("malformed", None))
        return self

    def invalid(self) -> FakeModelService:
        self.script.append(("invalid", None))
        return self

    def reply(self, answer: dict[str, Any] | str) -> FakeModelService:
        self.script.append(("reply", answer))
        return self

    # serving

    def start(self) -> FakeModelService:
        service = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                sent_headers = {k.lower(): v for k, v in self.headers.items()}
                service.requests.append(Seen(self.path, sent_headers, body))
                status, headers, answer = service.respond(self.path, body, sent_headers)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_json(status, answer, headers=headers)  # unless the client gave up

        self._server = loopback.serve(Handler, port=self.port)
        return self

    def stop(self) -> None:
        loopback.close(self._server)

    def respond(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        generation = self.generation
        action, argument = self.script.popleft() if self.script else ("ok", None)
        if action == "status":
            status, retry_after, echo_key = argument
            answer = error(status)
            if echo_key:
                sent = headers.get("x-api-key") or headers.get("authorization", "")
                answer["error"]["message"] = f"Incorrect API key provided: {sent}"
            return status, {"retry-after": retry_after} if retry_after else {}, answer
        if action == "stall":
            time.sleep(argument)
            if generation != self.generation:
                return 503, {}, error(503)
        if path.endswith("/embeddings"):
            return 200, {}, self.embeddings(body)
        if path.endswith("/chat/completions"):
            return 200, {}, self.chat(body, action, argument)
        if path.endswith("/v1/messages"):
            return 200, {}, self.messages(body, action, argument)
        return 404, {}, error(404)

    def analysis(self, picture: bytes, action: str, argument: Any = None) -> Any:
        scene, size = scene_of(picture)
        self.pictures.append((scene, size))
        if action == "reply":
            return argument
        answer = dict(SCENES[scene])
        answer["tags"] = [*answer["tags"], *self.extra_tags]
        if action == "invalid":  # tags as one string, and no summary
            answer["tags"] = "cat, sleeping"
            del answer["summary"]
        return answer

    def chat(self, body: dict[str, Any], action: str, argument: Any = None) -> dict[str, Any]:
        parts = body["messages"][0]["content"]
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        answer = self.analysis(base64.b64decode(url.split("base64,", 1)[1]), action, argument)
        content = '{"category": "pet", "summary": "A cat' if action == "malformed" else None
        if isinstance(answer, str):
            content = answer
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content or json.dumps(answer),
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 900, "completion_tokens": 80, "total_tokens": 980},
        }

    def messages(self, body: dict[str, Any], action: str, argument: Any = None) -> dict[str, Any]:
        blocks = body["messages"][0]["content"]
        image = next(b for b in blocks if b["type"] == "image")
        answer = self.analysis(base64.b64decode(image["source"]["data"]), action, argument)
        tool = body["tool_choice"]["name"]
        content: list[dict[str, Any]]
        if action == "malformed":  # prose with broken JSON instead of the tool call
            content = [{"type": "text", "text": 'Here you go: {"category": "pet", "summ'}]
            stop = "end_turn"
        else:
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{len(self.requests)}",
                    "name": tool,
                    "input": answer,
                }
            ]
            stop = "tool_use"
        return {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 900, "output_tokens": 80},
        }

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        dim = int(body.get("output_dimension") or body.get("dimensions") or 64)
        data = [
            {"object": "embedding", "embedding": embed_text(text, dim), "index": index}
            for index, text in enumerate(body["input"])
        ]
        data.reverse()  # the index, not the order, says which input each answers
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"total_tokens": sum(len(t.split()) for t in body["input"])},
        }


def error(status: int) -> dict[str, Any]:
    """OpenAI's error shape (Anthropic's nests the same fields under "error" too)."""
    kinds = {401: "authentication_error", 429: "rate_limit_error", 404: "not_found_error"}
    return {
        "type": "error",
        "error": {"type": kinds.get(status, "api_error"), "message": f"fake failure {status}"},
    }
