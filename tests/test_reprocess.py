"""Backfills and shadow models: single steps run again through the queue, and a new model's
results stored beside the live ones without being served."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from darkroom.domain.errors import RecipeError
from darkroom.domain.records import ImageStatus
from darkroom.engine import lifecycle
from darkroom.engine.recipes import load_text
from darkroom.settings import Settings
from darkroom.wiring import Runtime, build
from tests import images
from tests.conftest import COLOUR_PETS, drain

BOTH_BACKENDS = True

RED = (250, 10, 10)


def accept(runtime: Runtime, name: str, recipe: str = "colour-pets") -> str:
    data = images.jpeg_bytes(images.photo(320, 240, seed=sum(map(ord, name)), tint=RED), quality=90)
    return runtime.intake.accept_stream(
        io.BytesIO(data), filename=name, owner="alice", recipe=recipe
    ).image.id


def _published(runtime: Runtime, image_id: str) -> list[str]:
    from sqlalchemy import select

    from darkroom.adapters.sql import schema

    with runtime.db.read() as conn:
        rows = conn.execute(select(schema.events.c.detail_type, schema.events.c.detail)).all()
    return [r.detail_type for r in rows if r.detail.get("image_id") == image_id]


def test_a_step_brings_the_later_steps_that_need_it() -> None:
    recipe = load_text(COLOUR_PETS, origin="test")
    assert lifecycle.steps_to_rerun(recipe, ["detect"]) == {
        "detect",
        "classify",
        "organize",
        "record",
        "notify",
        "embed",  # its search filters hold the class
        "index",  # it indexes the class and labels
    }
    assert lifecycle.steps_to_rerun(recipe, ["embed"]) == {"embed"}
    collections = load_text(
        (Path(lifecycle.__file__).parents[1] / "recipes" / "collections.yaml").read_text(),
        origin="test",
    )
    # A new analysis re-embeds its meaning and re-indexes its words.
    assert lifecycle.steps_to_rerun(collections, ["analyze"]) == {
        "analyze",
        "embed",
        "embed_meaning",
        "index_text",  # an index step: it reads the analysis too
        "index",
    }
    # New OCR re-indexes the text read, in both index steps.
    assert lifecycle.steps_to_rerun(collections, ["ocr"]) >= {"ocr", "index_text", "index"}
    with pytest.raises(lifecycle.Conflict, match="has no step 'embedd'"):
        lifecycle.steps_to_rerun(recipe, ["embedd"])


def test_re_embedding_runs_only_embed_and_keeps_every_other_result(runtime: Runtime) -> None:
    image_id = accept(runtime, "cat.jpg")
    drain(runtime)
    before = runtime.catalog.get_image(image_id)
    assert before is not None and before.status is ImageStatus.COMPLETED and before.job_id
    old_outputs = runtime.catalog.step_outputs(before.job_id)
    old_events = len(_published(runtime, image_id))

    queued = lifecycle.reprocess(
        runtime.catalog, runtime.queue, runtime.recipes, before, steps=["embed"]
    )
    assert queued.status is ImageStatus.QUEUED and queued.job_id != before.job_id
    assert drain(runtime) == 1
    after = runtime.catalog.get_image(image_id)
    assert after is not None and after.status is ImageStatus.COMPLETED
    assert after.location == before.location and after.class_name == before.class_name
    assert after.job_id is not None
    assert runtime.catalog.step_outputs(after.job_id) == old_outputs  # same steps, same results
    assert len(runtime.catalog.detection_records(image_id)) == 1  # record did not run again
    new_events = _published(runtime, image_id)[old_events:]
    assert sorted(new_events) == ["ImageEmbedded", "ImageProcessed"]
    space = runtime.search.embedder().space
    assert runtime.vectors.vector(space, image_id) is not None


def test_single_steps_need_a_completed_image(runtime: Runtime) -> None:
    image_id = accept(runtime, "cat.jpg")
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    with pytest.raises(lifecycle.Conflict, match="only an image its recipe completed"):
        lifecycle.reprocess(runtime.catalog, runtime.queue, runtime.recipes, image, steps=["embed"])


def test_provenance_filters_pick_what_an_older_model_made(runtime: Runtime) -> None:
    first, second = accept(runtime, "a.jpg"), accept(runtime, "b.jpg")
    drain(runtime)
    image = runtime.catalog.get_image(first)
    assert image is not None and image.job_id
    model = runtime.catalog.step_outputs(image.job_id)["embed"]["model"]
    query = lifecycle.ImageQuery(owner="alice")
    matching = lifecycle.backfill_candidates(runtime.catalog, query, {"embed.model": model}, page=1)
    assert {i.id for i in matching} == {first, second}
    none = lifecycle.backfill_candidates(runtime.catalog, query, {"embed.model": "other"})
    assert list(none) == []
    assert lifecycle.made_by({"embed": {"version": 1}}, {"embed.version": "1"})
    assert not lifecycle.made_by({}, {"embed.version": "1"})
    with pytest.raises(ValueError, match=r"STEP\.FIELD=VALUE"):
        lifecycle.parse_where(["model=x"])


@pytest.mark.slow  # worker processes
def test_cli_backfill_queues_matching_images_and_a_worker_finishes_them(
    runtime: Runtime, settings: Settings
) -> None:
    ids = [accept(runtime, f"{n}.jpg") for n in range(3)]
    drain(runtime)
    image = runtime.catalog.get_image(ids[0])
    assert image is not None and image.job_id
    model = runtime.catalog.step_outputs(image.job_id)["embed"]["model"]

    def cli(*args: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "darkroom.cli.main", "reprocess", *args, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DARKROOM_OWNER": "alice"},
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    assert cli("--step", "embed", "--where", "embed.model=nothing-made-this") == []
    dry = cli("--step", "embed", "--where", f"embed.model={model}", "--dry-run")
    assert sorted(r["image_id"] for r in dry) == sorted(ids)
    assert {r["result"] for r in dry} == {"would queue"}
    queued = cli("--step", "embed", "--where", f"embed.model={model}")
    assert {r["result"] for r in queued} == {"queued"}
    assert drain(runtime) == 3
    typo = cli(ids[0], "--step", "embedd")
    assert typo[0]["result"] == "skipped" and "has no step 'embedd'" in typo[0]["reason"]


SHADOWED = """
name: shadowed
steps:
  - step: validate
  - step: detect
    with: {provider: "tests.plugins:colour_detector", size: 64}
  - step: detect
    name: detect-next
    shadow: true
    with: {provider: "%s", size: 64}
  - step: classify
    with: {classes: {cat: [cat], dog: [dog]}}
"""


@pytest.mark.parametrize(
    "shadow_provider", ["tests.plugins:always_dog", "tests.plugins:broken_detector"]
)
def test_a_shadow_model_is_stored_beside_the_live_one_and_never_served(
    settings: Settings, shadow_provider: str
) -> None:
    assert settings.recipes_dir is not None
    (settings.recipes_dir / "shadowed.yaml").write_text(SHADOWED % shadow_provider)
    runtime = build(settings)
    try:
        image_id = accept(runtime, "cat.jpg", recipe="shadowed")
        drain(runtime)
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED
        assert image.class_name == "cat"  # the live detector's answer
        assert image.job_id is not None
        shadow = runtime.catalog.step_outputs(image.job_id)["detect-next"]
        assert shadow["shadow"] is True
        if shadow_provider.endswith("always_dog"):
            assert shadow["labels"][0]["name"] == "dog"
        else:
            assert "RuntimeError: this model is broken" in shadow["error"]
        assert _published(runtime, image_id).count("LabelsDetected") == 1  # the live one only
    finally:
        runtime.close()


def test_a_step_whose_effects_are_served_cannot_run_in_shadow() -> None:
    recipe = COLOUR_PETS.replace("  - step: organize\n", "  - step: organize\n    shadow: true\n")
    with pytest.raises(RecipeError, match=r"organize\): cannot run in shadow"):
        load_text(recipe, origin="test")
