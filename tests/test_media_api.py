"""The media library over real HTTP (`darkroom serve` on a loopback port): clients upload images
and videos naming the sku; a photo finds the video and the moment, for its own client only."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests import images, videos
from tests.server import Server, make_server, wait_final

pytestmark = pytest.mark.slow  # a server and a worker process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("media-api"), recipe="media")
    srv.create_key("acme", "acme")
    srv.create_key("globex", "globex")
    srv.start(workers=1)
    yield srv
    srv.stop()


def send(server: Server, key: str, path: Path, kind: str, sku: str) -> str:
    with server.client(key) as client:
        answer = client.post(
            "/upload",
            files={"file": (path.name, path.read_bytes(), kind)},
            data={"metadata": json.dumps({"sku": sku})},
        )
        assert answer.status_code == 202, answer.text
        image_id = str(answer.json()["image_id"])
        record = wait_final(client, image_id)
        assert record["status"] == "completed", record
        return image_id


def test_a_photo_finds_the_clients_video_and_moment_and_never_another_clients(
    server: Server, tmp_path: Path
) -> None:
    clip = videos.make(tmp_path / "spot.mp4")
    still = tmp_path / "box.jpg"
    images.photo(400, 300, seed=8).save(still)
    video_id = send(server, "acme", clip, "video/mp4", "sku-1")
    send(server, "acme", still, "image/jpeg", "sku-9")
    frame = Image.fromarray(videos.grab(clip, 3.0)).resize((200, 150))
    query = io.BytesIO()
    frame.save(query, "JPEG", quality=70)
    photo = ("shot.jpg", query.getvalue(), "image/jpeg")
    with server.client("acme") as acme:
        record = acme.get(f"/images/{video_id}").json()
        assert record["media"] == "video" and record["sku"] == "sku-1"
        assert [k["ms"] for k in record["keyframes"]][:3] == [0, 2000, 4000]
        assert record["location"].endswith(
            f"clients/acme/products/sku-1/media/video/{video_id}.mp4"
        )
        found = acme.post("/search/similar", files={"file": photo}).json()["items"]
        assert found and found[0]["image_id"] == video_id and found[0]["media"] == "video"
        assert (
            abs(found[0]["frame_ms"] - 3000) <= 2000
            and "/keyframes/" in found[0]["frame_thumbnail"]
        )
        assert len({item["image_id"] for item in found}) == len(found)
        moment = acme.get(found[0]["frame_url"])
        assert moment.status_code == 200 and moment.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(moment.content)).format == "JPEG"
        for frame in record["keyframes"]:  # each listed keyframe is served
            served = acme.get(frame["url"])
            assert served.status_code == 200, frame
            if frame["ms"] == found[0]["frame_ms"]:
                assert served.content == moment.content
        assert acme.get(f"/images/{video_id}/keyframes/1234").status_code == 404
        only_images = acme.post("/search/similar", files={"file": photo}, data={"media": "image"})
        assert video_id not in {item["image_id"] for item in only_images.json()["items"]}
        other_sku = acme.post("/search/similar", files={"file": photo}, data={"sku": "sku-9"})
        assert video_id not in {item["image_id"] for item in other_sku.json()["items"]}
        words = acme.get("/search", params={"q": "spot"}).json()["items"]
        assert [item["image_id"] for item in words] == [video_id]
    with httpx.Client(base_url=server.url, timeout=30) as person:  # the UI's image page
        signin = person.post("/ui/signin", data={"api_key": server.keys["acme"]})
        assert signin.status_code == 303
        page = person.get(f"/ui/images/{video_id}").text
        shown = re.findall(rf'src="(/ui/images/{video_id}/keyframes/\d+)"', page)
        assert len(shown) == len(record["keyframes"])
        assert person.get(shown[0]).headers["content-type"] == "image/jpeg"
    with server.client("globex") as globex:
        assert globex.post("/search/similar", files={"file": photo}).json()["items"] == []
        assert globex.get("/search", params={"q": "spot"}).json()["items"] == []
        by_id = globex.post("/search/similar", json={"image_id": video_id})
        assert by_id.status_code == 404
        assert globex.get(f"/images/{video_id}").status_code == 404
        assert globex.get(f"/images/{video_id}/keyframes/0").status_code == 404


def test_uploads_are_refused_upfront_without_a_sku_or_a_media_type_no_recipe_takes(
    server: Server, tmp_path: Path
) -> None:
    with server.client("acme") as acme:
        answer = acme.post("/upload", files={"file": ("x.avi", b"RIFF....AVI ", "video/x-msvideo")})
        assert answer.status_code == 415
        photo = images.jpeg_bytes(images.photo(64, 48, seed=1))
        no_sku = acme.post("/upload", files={"file": ("a.jpg", photo, "image/jpeg")})
        assert no_sku.status_code == 422 and "recipe 'media' needs metadata sku" in no_sku.text
        text = acme.post(
            "/upload",
            files={"file": ("notes.mp4", b"just words\n" * 100, "video/mp4")},
            data={"metadata": json.dumps({"sku": "sku-1"})},
        )
        assert text.status_code == 202
        record = wait_final(acme, text.json()["image_id"])
        assert record["status"] == "rejected" and "not an image or a video" in str(record["error"])
