"""The onnx classifier provider, through onnxruntime on models the tests build."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from darkroom.domain.records import ImageStatus
from darkroom.providers.onnx_classifier import OnnxClassifier
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import drain
from tests.models import colour_classifier, labels_file

RED, GREEN, BLUE = (250, 10, 10), (10, 250, 10), (10, 10, 250)


@pytest.fixture
def model(tmp_path: Path) -> dict[str, str]:
    return {
        "model": str(colour_classifier(tmp_path / "colour.onnx")),
        "labels": str(labels_file(tmp_path / "labels.txt")),
        "size": 32,
    }


def pixels(tint: tuple[int, int, int], size: tuple[int, int] = (120, 90)) -> np.ndarray:
    return np.asarray(images.photo(*size, seed=1, tint=tint))


def test_top_classes_by_name_with_probabilities(model: dict[str, str]) -> None:
    classifier = OnnxClassifier({**model, "top_k": 2})
    labels = classifier.detect(pixels(BLUE))
    assert labels[0].name == "blue thing"
    assert labels[0].confidence > 90 and labels[0].provider == "onnx:colour"
    assert sum(label.confidence for label in classifier.detect(pixels(RED))) <= 100.0001


def test_groups_sum_classes_into_the_recipes_labels(model: dict[str, str]) -> None:
    classifier = OnnxClassifier({**model, "groups": {"cat": ["0", "green thing"], "dog": [2]}})
    red, green, blue = (classifier.detect(pixels(tint)) for tint in (RED, GREEN, BLUE))
    assert red[0].name == "cat" and red[0].confidence > 90
    assert green[0].name == "cat"
    assert blue[0].name == "dog" and blue[0].confidence > 90
    ranges = OnnxClassifier({**model, "groups": {"warm": ["0-1"]}})
    assert ranges.detect(pixels(GREEN))[0].confidence > 90


def test_batch_inference_matches_one_by_one(model: dict[str, str]) -> None:
    classifier = OnnxClassifier({**model, "groups": {"cat": [0], "dog": [2]}})
    pictures = [pixels(RED), pixels(BLUE), pixels(GREEN, (64, 200))]
    batched = classifier.detect_batch(pictures)
    single = [classifier.detect(p) for p in pictures]
    for many, one in zip(batched, single, strict=True):
        assert [(x.name, round(x.confidence, 3)) for x in many] == [
            (x.name, round(x.confidence, 3)) for x in one
        ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "/nope.onnx"}, "no model file"),
        ({"groups": {"cat": ["zebra"]}}, "no class index, range or name"),
        ({"groups": {"cat": [12]}}, "outside 0-3"),
        ({"std": [0, 1, 1]}, "must not be 0"),
        ({"colour": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_named(
    model: dict[str, str], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OnnxClassifier({**model, **options})


def test_label_count_must_match_the_model(model: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    with pytest.raises(ValueError, match="3 labels for 4 classes"):
        OnnxClassifier({**model, "labels": str(tmp_path / "three.txt")})


def test_a_recipe_files_dogs_with_an_onnx_detector(
    runtime: Runtime, model: dict[str, str], tmp_path: Path
) -> None:
    recipe = tmp_path / "onnx-pets.yaml"
    recipe.write_text(
        "name: onnx-pets\nsteps:\n - step: validate\n - step: detect\n   with:\n     provider: onnx\n"
        f"     options: {{model: '{model['model']}', size: 32, groups: {{cat: [0], dog: [2]}}}}\n"
        " - step: classify\n - step: organize\n"
    )
    runtime.recipes.add_file(recipe)
    dog = runtime.intake.accept_stream(
        io.BytesIO(images.jpeg_bytes(images.photo(300, 200, seed=2, tint=BLUE))),
        filename="rex.jpg",
        owner="alice",
        recipe="onnx-pets",
    ).image.id
    drain(runtime)
    image = runtime.catalog.get_image(dog)
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert image.class_name == "dog" and image.confidence is not None and image.confidence > 90
    assert image.location.startswith("dogs/alice/")
    assert image.labels[0].provider == "onnx:colour"
