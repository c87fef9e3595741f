"""Property-based run of the OpenAPI document against the live server (schemathesis): no 5xx,
no response outside its documented schema, status code or content type."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import images
from tests.server import make_server


@pytest.mark.slow
def test_openapi_schema_holds_under_generated_requests(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    key = server.create_key("admin", "alice", admin=True)
    server.start(workers=1)
    try:
        with server.client("admin") as client:  # some real images for the id-taking routes
            for seed in range(2):
                data = images.jpeg_bytes(images.photo(200, 150, seed=seed))
                client.post(
                    "/upload", files={"file": ("x.jpg", data, "image/jpeg")}
                ).raise_for_status()
        executable = shutil.which("schemathesis") or shutil.which("st")
        command = [executable] if executable else [sys.executable, "-m", "schemathesis.cli"]
        result = subprocess.run(
            [
                *command,
                "run",
                f"{server.url}/openapi.json",
                "-H",
                f"X-API-Key: {key}",
                "--checks",
                "not_a_server_error,response_schema_conformance,"
                "content_type_conformance,status_code_conformance",
                "--max-examples",
                "25",
                "--seed",
                "20261122",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    if result.returncode != 0:
        print(result.stdout)  # the whole report, in the test's captured output
    assert result.returncode == 0, result.stdout[-6000:]
    assert " passed" in result.stdout
