"""Engine.run_step and Engine.fail: a recipe run one named step per call (Step Functions), on
SQLite and PostgreSQL, ending where the queue-driven run ends."""

from __future__ import annotations

import io

import pytest

from darkroom.domain.errors import NotFound, RecipeError
from darkroom.domain.events import Event
from darkroom.domain.records import ImageStatus
from darkroom.ports import ImageQuery
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import drain

BOTH_BACKENDS = True


def accept(rt: Runtime, tint: tuple[int, int, int], name: str, recipe: str = "colour-pets") -> str:
    body = images.jpeg_bytes(images.photo(160, 120, seed=ord(name[0]), tint=tint))
    accepted = rt.intake.accept_stream(io.BytesIO(body), filename=name, owner="o", recipe=recipe)
    return accepted.image.id


def steps_of(rt: Runtime, recipe: str = "colour-pets") -> list[str]:
    return [step.name for step in rt.recipes.get(recipe).steps]


def comparable(rt: Runtime, image_id: str) -> dict[str, object]:
    image = rt.catalog.get_image(image_id)
    assert image is not None
    return {
        "status": image.status,
        "class": image.class_name,
        "uncertain": image.uncertain,
        "folder": image.location.split("/")[0],
        "thumbnail": image.thumbnail is not None,
        "steps": sorted(rt.catalog.step_outputs(image.job_id or "")),
        "record": [r.detected_animal for r in rt.catalog.detection_records(image_id)],
    }


def published(runtime: Runtime) -> list[Event]:
    """Events as the bus hands them on (the local bus publishes within the transaction)."""
    seen: list[Event] = []
    runtime.bus.subscribe(seen.append)  # type: ignore[attr-defined]
    return seen


def test_step_by_step_ends_where_the_queue_run_ends(runtime: Runtime) -> None:
    queued = accept(runtime, (0, 255, 0), "a.jpg")
    drain(runtime)
    seen = published(runtime)
    stepped = accept(runtime, (0, 255, 0), "b.jpg")
    for name in steps_of(runtime):
        run = runtime.engine.run_step(stepped, name)
        assert run.ran
    expected = comparable(runtime, queued)
    assert expected["status"] is ImageStatus.COMPLETED and expected["uncertain"] is True
    assert comparable(runtime, stepped) == expected
    kinds = [e.detail_type for e in seen]
    assert kinds.count("ImageProcessed") == 1 and "ClassificationUncertain" in kinds


def test_a_repeated_step_changes_nothing(runtime: Runtime) -> None:
    image_id = accept(runtime, (255, 0, 0), "a.jpg")
    names = steps_of(runtime)
    for name in names[: names.index("record") + 1]:
        runtime.engine.run_step(image_id, name)
    before = runtime.catalog.detection_records(image_id)
    seen = published(runtime)
    again = runtime.engine.run_step(image_id, "record")
    assert not again.ran
    assert runtime.catalog.detection_records(image_id) == before  # same timestamp: not rewritten
    assert seen == []


def test_steps_out_of_order_or_unknown_are_refused(runtime: Runtime) -> None:
    image_id = accept(runtime, (255, 0, 0), "a.jpg")
    with pytest.raises(RecipeError, match="runs after validate"):
        runtime.engine.run_step(image_id, "thumbnail")
    with pytest.raises(RecipeError, match="has no step 'sharpen'"):
        runtime.engine.run_step(image_id, "sharpen")
    with pytest.raises(NotFound):
        runtime.engine.run_step("0" * 32, "validate")


def test_a_failing_step_raises_and_counts_then_fail_marks_the_image(runtime: Runtime) -> None:
    seen = published(runtime)
    image_id = accept(runtime, (255, 0, 0), "poison.jpg", recipe="poisoned")
    runtime.engine.run_step(image_id, "validate")
    for attempt in (1, 2):
        with pytest.raises(RuntimeError, match="poisoned by"):
            runtime.engine.run_step(image_id, "poison")
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.job_id is not None
        assert runtime.catalog.step_failures(image.job_id)["poison"][0] == attempt
    failed = runtime.engine.fail(image_id, "RuntimeError: poisoned by poison.jpg")
    assert failed.status is ImageStatus.FAILED
    again = runtime.engine.fail(image_id, "a second catch")
    assert again.error == "RuntimeError: poisoned by poison.jpg"  # a repeat changes nothing
    assert [e.detail_type for e in seen].count("ImageFailed") == 1
    assert not runtime.engine.run_step(image_id, "thumbnail").ran  # final: nothing more runs


def test_bad_input_ends_rejected_and_later_steps_run_nothing(runtime: Runtime) -> None:
    accepted = runtime.intake.accept_stream(
        io.BytesIO(b"not a picture"), filename="x.jpg", owner="o", recipe="colour-pets"
    )
    run = runtime.engine.run_step(accepted.image.id, "validate")
    assert run.ran and run.image.status is ImageStatus.REJECTED
    assert run.image.error
    assert not runtime.engine.run_step(accepted.image.id, "normalize").ran
    assert [i.status for i in runtime.catalog.list_images(ImageQuery(owner="o"))] == [
        ImageStatus.REJECTED
    ]
