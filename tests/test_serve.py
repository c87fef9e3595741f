"""`darkroom serve` as a person and a log collector meet it: offline docs, workers that log like
the API process, JSON when stderr is not a terminal, a first screen when it is."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from darkroom.api.routes.docs import ASSET_NAMES
from tests.server import Server, free_port, make_server, wait_final

pytestmark = pytest.mark.slow  # real server processes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("serve"), log_level="INFO")
    for forced in ("FORCE_COLOR", "TTY_COMPATIBLE", "DARKROOM_LOG_FORMAT"):
        srv.env.pop(forced, None)  # Rich would take a pipe for a terminal
    srv.start(workers=1)  # no key yet: the first start makes the admin key
    srv.create_key("alice", "alice")
    yield srv
    srv.stop()


def test_docs_load_nothing_from_the_internet(server: Server) -> None:
    with server.client(None) as anonymous:
        for page in ("/docs", "/redoc"):
            html = anonymous.get(page)
            assert html.status_code == 200
            linked = re.findall(r'(?:src|href)="([^"]+)"', html.text)
            assert linked and all(url.startswith("/docs/assets/") for url in linked), linked
            assert "cdn" not in html.text and "googleapis" not in html.text
            for url in linked:
                asset = anonymous.get(url)
                assert asset.status_code == 200 and len(asset.content) > 1000, url
        bundle = anonymous.get("/docs/assets/swagger-ui-bundle.js").text
        assert "oas31" in bundle  # swagger-ui 5: renders the OpenAPI 3.1 document FastAPI makes
        assert anonymous.get("/openapi.json").json()["openapi"].startswith("3.1")
        assert anonymous.get("/docs/assets/core.py").status_code == 404
        assert anonymous.get("/docs/assets/..%2F__init__.py").status_code == 404
        assert {"swagger-ui-bundle.js", "redoc.standalone.js"} <= ASSET_NAMES
        metrics = anonymous.get("/metrics").text
    assert re.search(r'darkroom_http_requests_total\{[^}]*route="/docs"[^}]*status="200"', metrics)
    assert 'route="/docs/assets/{name}"' in metrics and 'route="/redoc"' in metrics


def test_workers_log_a_rejection_to_stderr_and_to_the_log_file(server: Server) -> None:
    with server.client("alice") as alice:
        answer = alice.post("/upload", files={"file": ("notes.jpg", b"not a picture at all")})
        assert answer.status_code == 202, answer.text
        image_id = answer.json()["image_id"]
        assert wait_final(alice, image_id)["status"] == "rejected"

    def rejection_logged(text: str) -> bool:
        for line in text.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record["message"] == "image rejected" and record["image_id"] == image_id:
                    return True
        return False

    log_file = server.home / "logs" / "darkroom.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        log_file.exists() and rejection_logged(log_file.read_text())
    ):
        time.sleep(0.1)
    assert rejection_logged(log_file.read_text())
    assert rejection_logged((server.home / "server.log").read_text())  # the worker's stderr


def test_stderr_that_is_not_a_terminal_gets_json_without_colour_codes(server: Server) -> None:
    lines = (server.home / "server.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert any(m.startswith("Uvicorn running on") for m in messages)
    ready = next(r for r in records if r["message"] == "darkroom serve ready")
    assert ready["url"] == server.url and ready["docs"] == f"{server.url}/docs"
    assert all("color_message" not in r for r in records)
    assert "\x1b" not in (server.home / "server.log").read_text()
    # the admin key made on first start, as a plain line a script can read
    assert any(
        re.match(r"first start: admin key for owner 'default' \(shown only now\): dk_", line)
        for line in lines
    )


def test_a_terminal_gets_a_first_screen_and_readable_lines(tmp_path: Path) -> None:
    home = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "DARKROOM_HOME": str(home), "COLUMNS": "120", "TERM": "xterm"}
    env.pop("DARKROOM_LOG_FORMAT", None)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "darkroom.cli.main", "serve", "--port", str(port), "-w", "1"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Ctrl-C stops" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
            assert process.poll() is None, seen.decode(errors="replace")
    finally:
        process.terminate()
        process.wait(30)
        os.close(leader)
    text = re.sub(r"\x1b\[[0-9;]*m", "", seen.decode(errors="replace")).replace("\r", "")
    assert "is listening" in text, text
    assert re.search(rf"docs +http://127\.0\.0\.1:{port}/docs", text)
    assert re.search(rf"API +http://127\.0\.0\.1:{port}\n", text)
    assert re.search(r"shown only now:\n\n +dk_[0-9a-f]{12}_\S+", text)
    assert re.search(r"\d\d:\d\d:\d\d INFO +uvicorn.error: Uvicorn running on", text)
    assert '{"time"' not in text  # no JSON on a terminal
    assert f"logs     {home / 'logs' / 'darkroom.log'}" in text
