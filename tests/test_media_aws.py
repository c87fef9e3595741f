"""The media library on AWS, against moto's server: objects a client puts under
clients/{client}/products/{sku}/media/... are brought in by the bucket's notification, processed
by the processor Lambda (keyframes in S3, vectors stored), and stay the client's own."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from darkroom.domain.records import ImageStatus
from darkroom.lambdas import runtime
from darkroom.ports import ImageQuery
from darkroom.wiring import Runtime
from tests import images, videos
from tests.lambda_harness import Container, Stack, arrivals, deliver

pytestmark = [pytest.mark.usefixtures("aws_credentials"), pytest.mark.slow]


@pytest.fixture
def stack(moto_endpoint: str) -> Stack:
    made = Stack(moto_endpoint)
    made.notify_queue("clients/")
    return made


@pytest.fixture
def rt(stack: Stack, home: Path, lambda_container: Container) -> Runtime:
    pytest.importorskip("darkroom.adapters.aws")
    # pets, the deployment's default: clients/ objects still go to media
    lambda_container(stack.container(home, "pets"))
    return runtime.runtime()


def drain_notifications(stack: Stack) -> None:
    """Deliver what the bucket sent until it stops sending (darkroom's own files notify too)."""
    while True:
        try:
            batch = arrivals(stack, 1)
        except AssertionError:
            return
        assert deliver(stack, batch) == {"batchItemFailures": []}


def test_a_clients_image_and_video_end_processed_and_stay_its_own(
    stack: Stack, rt: Runtime, tmp_path: Path
) -> None:
    clip = videos.make(tmp_path / "spot.mp4")
    photo = images.jpeg_bytes(images.photo(320, 240, seed=4))
    folder = "clients/acme/products/sku 1/media"  # a space: the key arrives URL-encoded
    stack.s3.put_object(Bucket=stack.bucket, Key=f"{folder}/video/Spot.MP4", Body=clip.read_bytes())
    stack.s3.put_object(Bucket=stack.bucket, Key=f"{folder}/image/front.jpg", Body=photo)
    stack.s3.put_object(Bucket=stack.bucket, Key=f"{folder}/image/notes.txt", Body=b"words")
    stack.s3.put_object(Bucket=stack.bucket, Key="clients/acme/elsewhere.jpg", Body=photo)
    drain_notifications(stack)
    found = {i.filename: i for i in rt.catalog.list_images(ImageQuery(owner="acme"))}
    assert set(found) == {"Spot.MP4", "front.jpg"}  # the text and the stray were skipped
    video, still = found["Spot.MP4"], found["front.jpg"]
    for item in (video, still):
        assert item.status is ImageStatus.COMPLETED, item.error
        assert item.recipe == "media" and item.metadata["sku"] == "sku 1"
    assert video.location == f"clients/acme/products/sku-1/media/video/{video.id}.mp4"
    keys = stack.keys(f"clients/acme/products/sku-1/media/thumbnails/{video.id}/keyframes/")
    assert len(keys) >= 3
    assert stack.keys(f"{folder}/video/") == []  # moved into the layout, under its id
    assert rt.queue.dead_letters() == []
    frame = Image.fromarray(videos.grab(clip, 3.0)).resize((200, 150))
    query = io.BytesIO()
    frame.save(query, "JPEG", quality=70)
    hits = rt.search.like_picture("acme", query.getvalue())
    assert hits and hits[0].image_id == video.id and hits[0].frame_ms is not None
    assert abs(hits[0].frame_ms - 3000) <= 2000
    assert rt.search.like_picture("globex", query.getvalue()) == []
