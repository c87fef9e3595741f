"""kill -9 under load, then an audit (issue #13, the chaos suite): uploads (with duplicates) go
on while the server, and then one of its workers, are killed; clients retry what got no answer
with the same Idempotency-Key, as a real client would. Afterwards every 202 completed exactly
once with its own bytes, no key made two images, and after the sweep nothing is left behind."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from darkroom.engine.sweep import sweep
from darkroom.settings import Settings
from darkroom.wiring import build
from tests import images
from tests.server import Server, make_server

pytestmark = pytest.mark.slow
UPLOADS = 24


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def picture(n: int) -> bytes:
    # Every third upload repeats an earlier picture: duplicates under fire too.
    seed = n - 1 if n % 3 == 2 else n
    return images.jpeg_bytes(images.photo(200, 150, seed=seed), quality=85)


class Client:
    """Uploads 0..UPLOADS-1, each retried with its own Idempotency-Key until it gets a 202."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.accepted: dict[int, str] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._upload_all()
        except BaseException as exc:  # seen by the test, not lost with the thread
            self.error = exc

    def wait_for(self, count: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while len(self.accepted) < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {len(self.accepted)} accepted"
            time.sleep(0.05)

    def _upload_all(self) -> None:
        pending = list(range(UPLOADS))
        while pending and not self.stop.is_set():
            n = pending[0]
            try:
                answer = httpx.post(
                    f"{self.server.url}/upload",
                    files={"file": (f"p{n}.jpg", picture(n), "image/jpeg")},
                    headers={"X-API-Key": self.server.keys["alice"], "Idempotency-Key": f"k{n}"},
                    timeout=10,
                )
            except httpx.HTTPError:
                time.sleep(0.2)  # the server is down: try the same upload again
                continue
            if answer.status_code == 202:
                image_id = answer.json()["image_id"]
                assert self.accepted.setdefault(n, image_id) == image_id, "one key, two images"
                pending.pop(0)
            else:
                assert answer.status_code in (409, 503), answer.text
                time.sleep(0.2)


def test_kill_9_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    server = make_server(tmp_path, default_plan="unlimited", recipe="pets")
    server.create_key("alice", "alice")
    server.start(workers=2)
    client = Client(server)
    uploader = threading.Thread(target=client.run)
    uploader.start()
    try:
        client.wait_for(UPLOADS // 3)
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)  # the API and the workers' parent
        server.process.wait()
        time.sleep(1)
        server.start(workers=2)
        client.wait_for(2 * UPLOADS // 3)
        workers = children(server.process.pid)
        assert workers, "serve runs its workers as child processes"
        os.kill(workers[0], signal.SIGKILL)  # one worker, mid-job
        client.wait_for(UPLOADS, 240)
        uploader.join(timeout=30)
        alice = server.client("alice")
        deadline = time.monotonic() + 240
        records: dict[int, dict[str, object]] = {}
        while time.monotonic() < deadline and len(records) < UPLOADS:
            for n, image_id in client.accepted.items():
                record = alice.get(f"/images/{image_id}").json()
                if record["status"] in ("completed", "duplicate"):
                    records[n] = record
            time.sleep(0.5)
        assert len(records) == UPLOADS, {
            n: alice.get(f"/images/{i}").json()["status"]
            for n, i in client.accepted.items()
            if n not in records
        }
        for n, record in records.items():
            data = picture(n)
            assert record["sha256"] == hashlib.sha256(data).hexdigest()
            stored = alice.get(f"/images/{client.accepted[n]}/original")
            assert stored.status_code == 200 and stored.content == data, n
        listed = alice.get("/images", params={"limit": 200}).json()["items"]
        assert len(listed) == UPLOADS, "every key made exactly one image"
    finally:
        client.stop.set()
        uploader.join(timeout=10)
        server.stop()

    # The sweep, with no grace (nothing is running): nothing unrecorded is left.
    runtime = build(Settings(home=server.home))
    try:
        sweep(runtime.catalog, runtime.blobs, runtime.queue, runtime.claims, grace_seconds=0)
        recorded = {
            image.location
            for image in runtime.catalog.images_by_ids(list(client.accepted.values()))
        }
        left = [
            path.relative_to(server.home).as_posix()
            for path in (server.home / "input").rglob("*")
            if path.is_file()
        ]
        assert all(key in recorded for key in left), set(left) - recorded
        assert not [p for p in server.home.rglob(".tmp-*")]
    finally:
        runtime.close()
