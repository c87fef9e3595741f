"""The portraits recipe's face step on real photographs (scikit-image's astronaut, matplotlib's
Grace Hopper): the largest face, cropped with 50% padding clamped at the edges, the face count
recorded, and a picture with no face rejected at once. Also Rekognition DetectFaces as the face
provider, through boto3 against a local server answering Rekognition's JSON."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from darkroom.domain.faces import padded
from darkroom.domain.records import ImageStatus
from darkroom.wiring import Runtime
from tests import faces, loopback
from tests.conftest import add_recipe, drain
from tests.loopback import QuietHandler

VISITOR = "kiosk-7.visitor-ünïcode-42"


def portrait(
    runtime: Runtime, picture: Image.Image, tmp: Path, name: str, recipe: str = "portraits"
) -> Any:
    runtime.portraits.record_consent("default", VISITOR, "Visitor", True, "test")  # type: ignore[union-attr]
    path = faces.save_jpeg(picture, tmp / "in" / f"{name}.jpg")
    accepted = runtime.intake.accept_path(
        path, "default", recipe, {"user_id": VISITOR, "style": "casual", "gender": "female"}
    )
    drain(runtime)
    image = runtime.catalog.get_image(accepted.image.id)
    assert image is not None and image.job_id is not None
    return image, runtime.catalog.step_outputs(image.job_id)


def crop_of(runtime: Runtime, outputs: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(runtime.blobs.get(outputs["face"]["crop"])))


def test_padding_is_half_the_box_each_side_and_clamped() -> None:
    assert padded((100, 100, 50, 40), 0.5, 400, 300) == (75, 80, 100, 80)
    assert padded((10, 5, 50, 40), 0.5, 400, 300) == (0, 0, 85, 65)  # clamped left and top
    assert padded((360, 270, 40, 30), 0.5, 400, 300) == (340, 255, 60, 45)  # right and bottom


def test_astronaut_is_cropped_around_her_face(runtime: Runtime, tmp_path: Path) -> None:
    image, outputs = portrait(runtime, faces.astronaut(), tmp_path, "astronaut")
    assert image.status is ImageStatus.COMPLETED, image.error
    face = outputs["face"]
    assert face["faces"] == 1 and face["provider"].startswith("blazeface@")
    left, top, width, height = face["face"]["box"]
    # Her face is in the upper middle of the photograph (about x 180-270, y 70-160 of 512).
    assert 0.28 < left < 0.42 and 0.08 < top < 0.2 and 0.12 < width < 0.25
    # The crop is the face box grown by half its size on each side: twice as wide and high.
    crop = crop_of(runtime, outputs)
    assert abs(crop.width - 2 * width * 512) <= 2 and abs(crop.height - 2 * height * 512) <= 2
    cl, ct, _, _ = face["crop_box"]
    assert cl == pytest.approx(left - width / 2, abs=0.005)
    assert ct == pytest.approx(top - height / 2, abs=0.005)
    assert image.labels and image.labels[0].name == "face"


def test_grace_hopper_is_found(runtime: Runtime, tmp_path: Path) -> None:
    image, outputs = portrait(runtime, faces.grace_hopper(), tmp_path, "hopper")
    assert image.status is ImageStatus.COMPLETED, image.error
    assert outputs["face"]["faces"] == 1
    assert outputs["stylise"]["result"].startswith(f"portraits/default/{image.id}/")


def test_of_two_faces_the_larger_is_cropped_and_both_counted(
    runtime: Runtime, tmp_path: Path
) -> None:
    image, outputs = portrait(runtime, faces.two_faces(), tmp_path, "two")
    assert image.status is ImageStatus.COMPLETED, image.error
    face = outputs["face"]
    assert face["faces"] == 2
    left, _, width, height = face["face"]["box"]
    assert left > 320 / 832, "Grace Hopper (right, full size) has the larger face"
    assert width * 832 > 150  # hers is about 200 px wide; the small astronaut's about 60
    crop = crop_of(runtime, outputs)
    assert abs(crop.height - 2 * height * 600) < 6  # padded by half the box each side
    # (clamping at the picture's edge: test_a_face_at_the_edge_has_its_padding_clamped)


def test_a_face_at_the_edge_has_its_padding_clamped(runtime: Runtime, tmp_path: Path) -> None:
    image, outputs = portrait(runtime, faces.face_at_edge(), tmp_path, "edge")
    assert image.status is ImageStatus.COMPLETED, image.error
    face = outputs["face"]
    left, top, width, height = face["face"]["box"]
    assert left < 0.5 * width and top < 0.5 * height  # less room than the padding asks
    assert face["crop_box"][:2] == [0.0, 0.0]
    crop = crop_of(runtime, outputs)
    w, h = 342, 452  # the picture's size
    assert abs(crop.width - round((left + 1.5 * width) * w)) <= 2
    assert abs(crop.height - round((top + 1.5 * height) * h)) <= 2


def test_no_face_is_rejected_at_once(runtime: Runtime, tmp_path: Path) -> None:
    started = time.monotonic()
    image, outputs = portrait(runtime, faces.no_face(), tmp_path, "coffee")
    assert image.status is ImageStatus.REJECTED
    assert image.error is not None and "no face found" in image.error
    assert time.monotonic() - started < 15  # one attempt, no retries, no hang
    assert "stylise" not in outputs and "face" not in outputs
    assert runtime.catalog.step_failures(image.job_id) == {}  # not retried: final
    assert not list(runtime.settings.home.glob("faces/**/*.jpg"))
    assert not list(runtime.settings.home.glob("portraits/**/*.jpg"))


# Rekognition DetectFaces -----------------------------------------------------------------

# What DetectFaces answers for a picture with two faces, one past the left edge (as Rekognition
# does for a cut-off face), one small and unsure.
FACE_DETAILS = {
    "FaceDetails": [
        {
            "BoundingBox": {"Left": -0.05, "Top": 0.1, "Width": 0.4, "Height": 0.5},
            "Confidence": 99.9,
        },
        {"BoundingBox": {"Left": 0.7, "Top": 0.2, "Width": 0.1, "Height": 0.1}, "Confidence": 99.1},
        {
            "BoundingBox": {"Left": 0.5, "Top": 0.5, "Width": 0.05, "Height": 0.05},
            "Confidence": 41.0,
        },
    ]
}


@pytest.fixture
def rekognition(aws_credentials: None) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A local server answering Rekognition's JSON protocol (X-Amz-Target) for DetectFaces."""
    seen: list[dict[str, str]] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(
                {"target": self.headers["X-Amz-Target"], "bytes": body["Image"]["Bytes"][:8]}
            )
            self.send_json(200, FACE_DETAILS, "application/x-amz-json-1.1")

    server = loopback.serve(Handler)
    yield f"http://127.0.0.1:{server.server_port}", seen
    loopback.close(server)


def test_rekognition_detect_faces_as_the_face_provider(
    rekognition: tuple[str, list[dict[str, str]]], runtime: Runtime, tmp_path: Path
) -> None:
    url, seen = rekognition
    recipe = f"""
name: portraits-aws
steps:
  - step: consent
  - step: validate
  - step: normalize
  - step: face
    with:
      provider: rekognition-faces
      options: {{endpoint_url: "{url}", region: us-east-1}}
  - step: stylise
"""
    name = add_recipe(runtime, "portraits-aws", recipe)
    image, outputs = portrait(runtime, faces.astronaut(), tmp_path, "aws", recipe=name)
    assert seen and seen[0]["target"] == "RekognitionService.DetectFaces"
    assert image.status is ImageStatus.COMPLETED, image.error
    face = outputs["face"]
    assert face["provider"] == "rekognition-faces"
    assert face["faces"] == 2  # the unsure one is under min_confidence
    assert face["face"]["box"] == [0.0, 0.1, 0.35, 0.5]  # clamped at the left edge
    assert face["crop_box"][0] == 0.0
    assert face["crop"] == f"faces/default/{image.id}/face.jpg"
