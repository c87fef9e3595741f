"""The catalog recipe through a real `darkroom serve` with no model key at all, and through the
CLI: multipart uploads with shop metadata, faceted search (GET /search facet parameters and
counts, POST /search/similar with facets), owners apart, bad facets answered 422;
`darkroom ingest --recipe catalog` printing garments and colours, `images show` and
`search --facet`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODEL_KEYS
from tests.garment_pictures import garment
from tests.server import Server, make_server, wait_final

pytestmark = pytest.mark.slow  # a server and its worker process, several CLI processes

RED, BLUE = (200, 25, 30), (30, 60, 170)


def jpeg(colour: tuple[int, int, int], shape: str = "shirt", seed: int = 0) -> bytes:
    out = io.BytesIO()
    garment(900, 900, colour, shape=shape, seed=seed).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def server(tmp_path: Path) -> Server:
    made = make_server(tmp_path)
    for name in MODEL_KEYS:  # search must answer with no key at all
        made.env.pop(name, None)
    made.env.pop("DARKROOM_LLM_BASE_URL", None)
    made.create_key("alice", "alice")
    made.create_key("bob", "bob")
    return made


def test_faceted_search_over_http_without_any_key(server: Server) -> None:
    server.start(workers=1)
    try:
        with server.client("alice") as alice, server.client("bob") as bob:
            ids = {}
            for name, picture, meta in [
                ("red-shirt.jpg", jpeg(RED, seed=1), {"sku": "R1", "brand": "Acme", "size": "M"}),
                ("red-dress.jpg", jpeg(RED, "dress", 2), {"sku": "R2", "brand": "Bolt"}),
                ("blue-shirt.jpg", jpeg(BLUE, seed=3), {"sku": "B1", "brand": "Acme"}),
            ]:
                answer = alice.post(
                    "/upload",
                    files={"file": (name, picture, "image/jpeg")},
                    data={"recipe": "catalog", "metadata": json.dumps(meta)},
                )
                assert answer.status_code == 202, answer.text
                ids[name] = answer.json()["image_id"]
            bob_id = bob.post(
                "/upload",
                files={"file": ("red-shirt.jpg", jpeg(RED, seed=9), "image/jpeg")},
                data={"recipe": "catalog"},
            ).json()["image_id"]
            for image_id in [*ids.values(), bob_id]:
                record = wait_final(alice if image_id != bob_id else bob, image_id)
                assert record["status"] == "completed", record

            found = alice.get("/search", params={"q": "shirt"})
            assert found.status_code == 200, found.text
            body = found.json()
            assert {i["image_id"] for i in body["items"]} == {
                ids["red-shirt.jpg"],
                ids["blue-shirt.jpg"],
            }
            assert body["facets"]["colour"] == {"blue": 1, "red": 1}
            assert body["facets"]["brand"] == {"acme": 2}

            red = alice.get("/search?q=shirt&colour=red").json()
            assert [i["image_id"] for i in red["items"]] == [ids["red-shirt.jpg"]]
            either = alice.get("/search?q=shirt&colour=red&colour=blue").json()
            assert len(either["items"]) == 2
            assert len(alice.get("/search?q=shirt&colour=red,blue").json()["items"]) == 2
            both = alice.get("/search?q=shirt&colour=blue&brand=bolt").json()
            assert both["items"] == [] and both["facets"]["brand"] == {"acme": 1}
            assert alice.get("/search?q=tuxedo").json() == {"items": [], "facets": {}}
            bad = alice.get("/search?q=shirt&colour=")
            assert bad.status_code == 422 and "give a value" in bad.text
            assert alice.get("/search?q=shirt&Bad%20Name=x").status_code == 422

            bobs = bob.get("/search?q=shirt&colour=red").json()
            assert [i["image_id"] for i in bobs["items"]] == [bob_id]
            assert "brand" not in bobs["facets"]

            like = alice.post(
                "/search/similar",
                json={
                    "image_id": ids["red-shirt.jpg"],
                    "min_score": -1,
                    "facets": {"brand": ["acme"]},
                },
            )
            assert like.status_code == 200, like.text
            assert [i["image_id"] for i in like.json()["items"]] == [ids["blue-shirt.jpg"]]
            wrong = alice.post(
                "/search/similar", json={"image_id": ids["red-shirt.jpg"], "facets": {"x": []}}
            )
            assert wrong.status_code == 422

            record = alice.get(f"/images/{ids['red-shirt.jpg']}").json()
            assert record["status"] == "completed"
    finally:
        server.stop()


def darkroom(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "darkroom.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**server.env, "COLUMNS": "200"},
    )


def test_ingest_a_folder_of_clothes_from_the_cli(server: Server, tmp_path: Path) -> None:
    clothes = tmp_path / "clothes"
    clothes.mkdir()
    (clothes / "red-shirt.jpg").write_bytes(jpeg(RED, seed=1))
    (clothes / "blue-dress.jpg").write_bytes(jpeg(BLUE, "dress", 2))
    ingested = darkroom(server, "ingest", str(clothes), "--recipe", "catalog", "-c", "1")
    assert ingested.returncode == 0, ingested.stderr
    assert "catalogue" in ingested.stdout
    rows = {
        line.split("│")[1].strip(): line for line in ingested.stdout.splitlines() if "│" in line
    }
    assert (
        "red 9" in rows["red-shirt.jpg"] and "no garment model configured" in rows["red-shirt.jpg"]
    )
    assert "blue" in rows["blue-dress.jpg"]

    found = darkroom(server, "search", "shirt", "--facet", "colour=red", "--json", "--facets")
    assert found.returncode == 0, found.stderr
    lines = [json.loads(line) for line in found.stdout.splitlines()]
    assert lines[-1] == {"facets": {"colour": {"red": 1}}}
    [hit] = lines[:-1]
    image_id = hit["image_id"]
    shown = darkroom(server, "images", "show", image_id, "--json")
    record = json.loads(shown.stdout)
    steps = record["steps"]
    assert (steps["standardise"]["width"], steps["standardise"]["height"]) == (900, 900)
    assert Path(steps["standardise"]["file_path"].removeprefix("file://")).is_file()
    assert steps["colours"]["colours"][0]["name"] == "red"
    assert steps["garments"]["garments"] == []
    table = darkroom(server, "images", "show", image_id)
    assert "garments" in table.stdout and "standardise" in table.stdout
    nothing = darkroom(server, "search", "shirt", "--facet", "colour")
    assert nothing.returncode != 0 and "FAMILY=VALUE" in nothing.stderr
