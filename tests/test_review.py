"""The review loop: a person's decision is a label with provenance, re-files the picture,
announces itself, survives a reprocess and can be undone; `review tune` finds thresholds."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from darkroom.adapters.sql import schema
from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.reviews import SqlReviews
from darkroom.domain.records import Label
from darkroom.domain.review import Review
from darkroom.engine import lifecycle
from darkroom.engine.recipes import RecipeBook, load_text
from darkroom.engine.tuning import tune
from darkroom.steps.classify import ClassifySettings, decide
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import COLOUR_PETS, drain

BOTH_BACKENDS = True
GREEN = (10, 250, 10)  # the colour detector's unsure cat (65)


def accept(runtime: Runtime, name: str, tint: tuple[int, int, int] = GREEN) -> str:
    data = images.jpeg_bytes(images.photo(320, 240, seed=len(name), tint=tint), quality=90)
    return runtime.intake.accept_stream(
        io.BytesIO(data), filename=name, owner="alice", recipe="colour-pets"
    ).image.id


def events_of(runtime: Runtime, image_id: str) -> list[str]:
    with runtime.db.read() as conn:
        rows = conn.execute(select(schema.events.c.detail_type, schema.events.c.detail)).all()
    return [kind for kind, detail in rows if detail.get("image_id") == image_id]


def test_decision_refiles_announces_survives_reprocess_and_undo(runtime: Runtime) -> None:
    image_id = accept(runtime, "unsure.jpg")
    drain(runtime)
    image = runtime.catalog.get_image(image_id, "alice")
    assert image is not None and image.class_name == "cat" and image.uncertain
    assert image.location.startswith("cats/alice/")
    from darkroom.engine.review import review_queue

    assert [i.id for i in review_queue(runtime.catalog, "alice")] == [image_id]
    assert review_queue(runtime.catalog, "bob") == []

    review = runtime.reviewer.decide(image, "dog", "key123")
    after = runtime.catalog.get_image(image_id, "alice")
    assert after is not None
    assert (after.class_name, after.uncertain, after.confidence) == ("dog", False, 100.0)
    assert after.location.startswith("dogs/alice/") and runtime.blobs.exists(after.location)
    assert not runtime.blobs.exists(image.location)
    stored = runtime.reviews.latest(image_id)
    assert stored is not None and stored.id == review.id
    assert (stored.key_id, stored.model_class, stored.model_confidence) == ("key123", "cat", 65.0)
    assert stored.model_uncertain and stored.previous_location == image.location
    assert "ReviewCompleted" in events_of(runtime, image_id)
    record = runtime.detections.detection_records(image_id)[0]
    assert (record.detected_animal, record.processing_status) == ("dog", "reviewed")
    assert review_queue(runtime.catalog, "alice") == []

    # A reprocess runs the model again; the person's class stands, the model's is kept beside.
    lifecycle.reprocess(runtime.catalog, runtime.queue, runtime.recipes, after)
    drain(runtime)
    again = runtime.catalog.get_image(image_id, "alice")
    assert again is not None and again.status.value == "completed"
    assert (again.class_name, again.uncertain) == ("dog", False)
    assert again.location.startswith("dogs/alice/") and runtime.blobs.exists(again.location)
    output = runtime.catalog.step_outputs(again.job_id or "")["classify"]
    assert output["reviewed"] == review.id and output["model"]["class"] == "cat"

    undone = runtime.reviewer.undo_last("alice", "key123")
    assert undone is not None and undone.id == review.id
    back = runtime.catalog.get_image(image_id, "alice")
    assert back is not None and (back.class_name, back.uncertain) == ("cat", True)
    assert back.location.startswith("cats/alice/") and runtime.blobs.exists(back.location)
    assert runtime.reviews.latest(image_id) is None
    assert "ReviewUndone" in events_of(runtime, image_id)
    assert runtime.reviewer.undo_last("alice", "key123") is None

    # Deleting the image deletes the decisions about it too.
    runtime.reviewer.decide(back, "other", "key123")
    lifecycle.delete_image(runtime.catalog, runtime.blobs, runtime.outbox, back)
    assert runtime.reviews.latest(image_id) is None
    assert runtime.reviews.decisions("colour-pets") == []


def test_a_decision_names_a_class_of_the_recipe_and_needs_a_finished_image(
    runtime: Runtime,
) -> None:
    image_id = accept(runtime, "unsure.jpg")
    queued = runtime.catalog.get_image(image_id, "alice")
    assert queued is not None
    with pytest.raises(lifecycle.Conflict, match="completed"):
        runtime.reviewer.decide(queued, "dog", "k")
    drain(runtime)
    done = runtime.catalog.get_image(image_id, "alice")
    assert done is not None
    with pytest.raises(ValueError, match="not one of cat, dog, other"):
        runtime.reviewer.decide(done, "ferret", "k")


# -- tuning -------------------------------------------------------------------------------------

PETS = load_text(COLOUR_PETS, origin="test")


def synthetic(high: float, low: float, n: int = 400, seed: int = 7) -> list[Review]:
    """Reviews where the truth is known: the model's cat is right from `high` up, a dog between
    `low` and `high`, and `other` below `low`."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        confidence = round(rng.uniform(30, 100), 2)
        person = "cat" if confidence >= high else "dog" if confidence >= low else "other"
        out.append(
            Review(
                id=f"r{i:04d}",
                image_id=f"i{i:04d}",
                owner="alice",
                recipe=PETS.name,
                key_id="k",
                class_name=person,
                model_class="cat",
                model_confidence=confidence,
                model_uncertain=low <= confidence < high,
                previous_location="",
                decided_at=start + timedelta(seconds=i),
            )
        )
    return out


def test_tune_finds_the_thresholds_that_made_the_reviewed_set() -> None:
    reviewed = synthetic(high=72, low=58)
    result = tune(PETS, reviewed, target=1.0, minimum=20)
    cat = next(c for c in result.classes if c.name == "cat")
    assert cat.high is not None and cat.low is not None
    seen = sorted(r.model_confidence or 0 for r in reviewed)
    # Exactly the first reviewed confidence at each boundary: nothing looser meets 100%.
    assert cat.high == min(c for c in seen if c >= 72)
    assert cat.low == min(c for c in seen if c >= 58)
    assert cat.precision == 1.0
    # A looser target admits some dogs: the lowest threshold whose picks are still 95% cats.
    loose = next(c for c in tune(PETS, reviewed, target=0.95).classes if c.name == "cat")
    assert loose.high is not None and loose.high < 72 and (loose.precision or 0) >= 0.95
    picks = [r.class_name for r in reviewed if (r.model_confidence or 0) >= loose.high - 0.5]
    assert picks.count("cat") / len(picks) < 0.95 or loose.high - 0.5 < min(
        r.model_confidence or 0 for r in reviewed
    )
    at_75 = next(row for row in cat.table if row.threshold == 75)
    at_50 = next(row for row in cat.table if row.threshold == 50)
    assert at_75.precision == 1.0 and at_75.recall < 1.0
    assert at_50.precision is not None and at_50.precision < 0.95
    dog = next(c for c in result.classes if c.name == "dog")
    assert dog.needs_more == 20 and dog.high is None  # the model never said dog
    assert result.override is not None
    classify = next(s for s in result.override["steps"] if s["step"] == "classify")
    assert classify["with"]["class_thresholds"]["cat"] == {"high": cat.high, "low": cat.low}

    # The override loads as a recipe, and its thresholds decide as tuned.
    book_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"tune-{os.getpid()}"
    book_dir.mkdir(exist_ok=True)
    import yaml

    (book_dir / "colour-pets.yaml").write_text(yaml.safe_dump(result.override))
    compiled = RecipeBook(book_dir).get("colour-pets")
    settings = next(s.settings for s in compiled.steps if isinstance(s.settings, ClassifySettings))
    assert decide([Label("cat", 73.0)], settings) == ("cat", 73.0, False)
    assert decide([Label("cat", 65.0)], settings) == ("cat", 65.0, True)
    assert decide([Label("cat", 50.0)], settings)[0] == "other"


def test_tune_with_too_few_decisions_says_how_many_more() -> None:
    result = tune(PETS, synthetic(72, 58, n=12), target=0.95, minimum=20)
    assert not result.ready and result.override is None
    cat = next(c for c in result.classes if c.name == "cat")
    assert (cat.decisions, cat.needs_more, cat.high) == (12, 8, None)


@pytest.mark.slow  # several CLI processes
def test_cli_review_list_decide_undo(tmp_path: Path, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the CLI part runs once, on SQLite")
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "colour-pets.yaml").write_text(COLOUR_PETS)
    photos = tmp_path / "photos"
    photos.mkdir()
    images.save(images.photo(320, 240, seed=3, tint=GREEN), photos / "unsure.jpg")
    env = {
        **os.environ,
        "DARKROOM_HOME": str(tmp_path / "home"),
        "DARKROOM_RECIPES_DIR": str(recipes),
        "DARKROOM_RECIPE": "colour-pets",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "darkroom.cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    assert cli("ingest", str(photos), "-c", "1", "-q").returncode == 0
    listed = cli("review", "list", "--json")
    waiting = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(w["file"].endswith("unsure.jpg"), w["class"]) for w in waiting] == [(True, "cat")]
    image_id = waiting[0]["image_id"]
    wrong = cli("review", "decide", image_id, "ferret")
    assert wrong.returncode == 2 and "not one of cat, dog, other" in wrong.stderr
    decided = cli("review", "decide", image_id, "dog", "--json")
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout)["decided_by"] == "cli"
    assert cli("review", "list", "--json").stdout == ""
    shown = json.loads(cli("images", "show", image_id, "--json").stdout)
    assert shown["class"] == "dog" and "/dogs/default/" in shown["location"]
    assert cli("review", "undo").returncode == 0
    assert "1 to review" in cli("review", "list").stdout
    assert json.loads(cli("review", "list", "--json").stdout)["image_id"] == image_id


@pytest.mark.slow  # CLI subprocesses over a labelled set
def test_cli_review_tune_writes_the_override(tmp_path: Path, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the CLI part runs once, on SQLite")
    home = tmp_path / "home"
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "colour-pets.yaml").write_text(COLOUR_PETS)
    db = Database(f"sqlite:///{home / 'darkroom.db'}")
    store = SqlReviews(db)
    for review in synthetic(high=80, low=60):
        store.add(review)
    db.dispose()
    env = {**os.environ, "DARKROOM_HOME": str(home), "DARKROOM_RECIPES_DIR": str(recipes)}
    out = tmp_path / "tuned"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "darkroom.cli.main", "review", "tune", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    done = run("--recipe", "colour-pets", "--target-precision", "1", "--json", "--write", str(out))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    cat = next(c for c in answer["classes"] if c["class"] == "cat")
    seen = sorted(r.model_confidence or 0 for r in synthetic(high=80, low=60))
    assert cat["high"] == min(c for c in seen if c >= 80)
    assert cat["low"] == min(c for c in seen if c >= 60)
    assert answer["written"] == str(out / "colour-pets.yaml")
    tuned = RecipeBook(out).get("colour-pets")
    assert tuned.recipe.version == 2
    table = run("--recipe", "colour-pets")
    assert table.returncode == 0 and "precision" in table.stdout and "cat: high" in table.stdout
    few = run("--recipe", "colour-pets", "--min-decisions", "1000")
    assert few.returncode == 1 and "needs 600 more" in few.stdout
