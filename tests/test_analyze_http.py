"""Analyses over HTTP and from the command line: a real `darkroom serve` running the collections
recipe against the fake model service, both on loopback ports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import images
from tests.fake_llm import SCENES, FakeModelService
from tests.server import make_server, wait_final

pytestmark = pytest.mark.slow  # a server with a worker process, and CLI subprocesses

SECRET = "sk-test-http-1b2c3d4e5f6a7b8c"


@pytest.fixture
def fake(model_service: FakeModelService) -> FakeModelService:
    model_service.reset()
    return model_service


def test_analyses_over_http_and_search_by_meaning_from_the_cli(
    tmp_path: Path, fake: FakeModelService
) -> None:
    server = make_server(
        tmp_path,
        recipe="collections",
        openai_api_key=SECRET,
        llm_base_url=f"{fake.url}/v1",
        embeddings_base_url=f"{fake.url}/v1",
        embeddings_model="fake-embed",
        embeddings_dim="256",
        text_embedder="http",
    )
    server.env.pop("OPENAI_API_KEY", None)
    server.create_key("alice", "alice")
    server.create_key("bob", "bob")
    server.start(workers=1)
    try:
        picture = images.jpeg_bytes(images.photo(1200, 900, seed=5, tint=(250, 10, 10)))
        with server.client("alice") as alice, server.client("bob") as bob:
            answer = alice.post("/upload", files={"file": ("rug.jpg", picture, "image/jpeg")})
            image_id = answer.json()["image_id"]
            record = wait_final(alice, image_id)
            assert record["status"] == "completed", record
            latest = record["analysis"]
            assert isinstance(latest, dict)
            assert latest["result"] == SCENES["red"] and latest["version"] == 1
            assert latest["provider"] == "llm:openai" and latest["model"] == "fake-vision-1"

            fake.model = "fake-vision-2"
            assert alice.post(f"/images/{image_id}/reprocess").status_code == 202
            assert wait_final(alice, image_id)["status"] == "completed"
            listed = alice.get(f"/images/{image_id}/analyses")
            assert listed.status_code == 200
            versions = [(a["version"], a["model"]) for a in listed.json()["items"]]
            assert versions == [(2, "fake-vision-2"), (1, "fake-vision-1")]
            assert alice.get(f"/images/{image_id}").json()["analysis"]["version"] == 2
            assert bob.get(f"/images/{image_id}/analyses").status_code == 404
            assert alice.get("/images/nope/analyses").status_code == 404

        found = subprocess.run(
            [sys.executable, "-m", "darkroom.cli.main", "search", "kitten", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**server.env, "DARKROOM_OWNER": "alice"},
            check=True,
        )
        hits = [json.loads(line) for line in found.stdout.splitlines()]
        assert [hit["image_id"] for hit in hits] == [image_id]
        assert "vector" in hits[0]["scores"]
    finally:
        server.stop()
    log = (server.home / "server.log").read_text()
    assert SECRET not in log
