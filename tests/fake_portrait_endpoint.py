"""A fake portrait model on a loopback port, speaking the SageMaker inference contract over real
HTTP: `GET /ping`, `POST /invocations` with JSON {image (base64), content_type, style, gender}.

It answers a real transformed picture: the face it was sent, toned in the style's colour, in the
top of a taller canvas of that colour (a "full-body portrait" the tests can recognise), as PNG,
with `model_version` and shopping `links`.

Scripted misbehaviour, one per request, then good answers again: `fail(429, retry_after="0")`,
`fail(500)`, `refuse(400, "...")`, `stall(seconds)` (past the client's timeout), `garbage()`
(an "image" that is not a picture).
"""

from __future__ import annotations

import base64
import io
import json
import threading
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

STYLE_COLOURS = {"casual": (60, 120, 200), "classic": (40, 40, 90), "evening": (20, 20, 20)}
MODEL_VERSION = "fake-portrait-1.3"


def transformed(face: Image.Image, style: str) -> bytes:
    colour = np.array(STYLE_COLOURS.get(style, (128, 128, 128)), dtype=np.float32)
    face = face.convert("RGB").resize((256, 256))
    toned = np.asarray(face, dtype=np.float32) * 0.7 + colour * 0.3
    canvas = Image.new("RGB", (320, 640), tuple(int(c) for c in colour))
    canvas.paste(Image.fromarray(toned.astype(np.uint8)), (32, 32))
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Script:
    kind: str  # fail | refuse | stall | garbage
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    message: str = ""


@dataclass
class FakeEndpoint:
    port: int = field(default_factory=free_port)
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: deque[Script] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, status: int, retry_after: str | None = None) -> None:
        self.script.append(Script("fail", status=status, retry_after=retry_after))

    def refuse(self, status: int, message: str) -> None:
        self.script.append(Script("refuse", status=status, message=message))

    def stall(self, seconds: float) -> None:
        self.script.append(Script("stall", seconds=seconds))

    def garbage(self) -> None:
        self.script.append(Script("garbage"))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.script.clear()

    def start(self) -> FakeEndpoint:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == "/ping":
                    self.send_json(200, {"status": "healthy"})
                else:
                    self.send_json(404, {"message": "not found"})

            def do_POST(self) -> None:
                if self.path != "/invocations":
                    self.send_json(404, {"message": "not found"})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(body)
                    step = fake.script.popleft() if fake.script else None
                if step is not None and step.kind == "stall":
                    time.sleep(step.seconds)
                if step is not None and step.kind == "fail":
                    extra = {"Retry-After": step.retry_after} if step.retry_after else {}
                    self.send_json(
                        step.status, {"message": f"scripted {step.status}"}, headers=extra
                    )
                    return
                if step is not None and step.kind == "refuse":
                    self.send_json(step.status, {"message": step.message})
                    return
                if step is not None and step.kind == "garbage":
                    garbage = base64.b64encode(b"definitely not a picture").decode()
                    self.send_json(200, {"image": garbage})
                    return
                face = Image.open(io.BytesIO(base64.b64decode(body["image"])))
                picture = transformed(face, str(body.get("style")))
                self.send_json(
                    200,
                    {
                        "image": base64.b64encode(picture).decode(),
                        "content_type": "image/png",
                        "model_version": MODEL_VERSION,
                        "links": [
                            {"title": f"{body.get('style')} look", "url": "https://shop.test/a"}
                        ],
                    },
                )

        self.server = loopback.serve(Handler, port=self.port)
        return self

    def stop(self) -> None:
        loopback.close(self.server)
