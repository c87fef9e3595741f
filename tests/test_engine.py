"""The engine: every step's effect, events, idempotent re-runs, resume after a crash, the DLQ."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from darkroom.adapters.local.webhooks import SIGNATURE_HEADER, verify
from darkroom.adapters.sql import schema
from darkroom.domain.events import Event
from darkroom.domain.records import FinishedStep, ImageStatus
from darkroom.engine import dlq
from darkroom.settings import Settings
from darkroom.views import image_record
from darkroom.wiring import Runtime, build
from tests import images
from tests.conftest import drain
from tests.receiver import Receiver

# Every test here runs on SQLite and on PostgreSQL: the adapters must behave alike.
BOTH_BACKENDS = True

RED, GREEN, BLUE = (250, 10, 10), (10, 250, 10), (10, 10, 250)


def accept(
    runtime: Runtime,
    name: str,
    tint: tuple[int, int, int] | None = RED,
    size: tuple[int, int] = (640, 480),
    recipe: str = "colour-pets",
    seed: int = 0,
) -> str:
    data = images.jpeg_bytes(images.photo(*size, seed=seed, tint=tint), quality=90)
    return runtime.intake.accept_stream(
        io.BytesIO(data), filename=name, owner="alice", recipe=recipe
    ).image.id


def events_of(runtime: Runtime, image_id: str) -> list[dict[str, Any]]:
    with runtime.db.read() as conn:
        rows = conn.execute(select(schema.events).order_by(schema.events.c.time)).all()
    return [
        {
            "detail-type": r.detail_type,
            "source": r.source,
            "id": r.id,
            "detail": r.detail,
            "published": r.published,
        }
        for r in rows
        if r.detail.get("image_id") == image_id
    ]


def test_pets_flow_classifies_files_records_and_announces(runtime: Runtime) -> None:
    cat, unsure, dog, nothing = (
        accept(runtime, "cat.jpg", RED),
        accept(runtime, "unsure.jpg", GREEN),
        accept(runtime, "dog.jpg", BLUE),
        accept(runtime, "grey.jpg", (128, 128, 128)),
    )
    drain(runtime)
    expected = {
        cat: ("cat", 95.0, False, "cats"),
        unsure: ("cat", 65.0, True, "cats"),
        dog: ("dog", 90.0, False, "dogs"),
        nothing: ("other", 100.0, False, "others"),
    }
    for image_id, (cls, confidence, uncertain, folder) in expected.items():
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED
        assert (image.class_name, image.confidence, image.uncertain) == (cls, confidence, uncertain)
        assert image.location == f"{folder}/alice/{image_id}.jpg"
        assert runtime.blobs.exists(image.location)
        assert not runtime.blobs.exists(f"input/alice/{image_id}.jpg")
        [record] = runtime.catalog.detection_records(image_id)
        assert record.detected_animal == cls and record.confidence_score == confidence
        assert record.s3_location == runtime.blobs.url(image.location)
        assert record.image_format == "JPEG" and record.file_size == image.size_bytes
        assert record.processing_status == ("uncertain" if uncertain else "completed")
        thumb = Image.open(io.BytesIO(runtime.blobs.get(image.thumbnail or "")))
        assert thumb.format == "JPEG" and max(thumb.size) == 640  # never upscaled
        types = [e["detail-type"] for e in events_of(runtime, image_id)]
        assert types[0] == "ImageReceived" and types[-1] == "ImageProcessed"
        for step_event in (
            "ImageValidated",
            "ImageNormalized",
            "ThumbnailCreated",
            "ImageHashed",
            "LabelsDetected",
            "ImageClassified",
            "ImageOrganized",
            "DetectionRecorded",
            "NotificationSent",
        ):
            assert step_event in types
        assert ("ClassificationUncertain" in types) is uncertain
        assert all(e["published"] for e in events_of(runtime, image_id))


def test_event_envelope_is_eventbridge_shaped(runtime: Runtime) -> None:
    image_id = accept(runtime, "cat.jpg")
    drain(runtime)
    assert runtime.catalog.pending_events() == []  # all published
    with runtime.db.read() as conn:
        row = conn.execute(
            select(schema.events).where(schema.events.c.detail_type == "ImageClassified")
        ).one()
    from darkroom.adapters.sql.catalog_rows import moment
    from darkroom.domain.events import Event

    envelope = Event(row.id, row.source, row.detail_type, moment(row.time), row.detail).envelope()
    assert set(envelope) == {"id", "source", "detail-type", "time", "detail"}
    assert envelope["source"] == "darkroom.classify" and envelope["time"].endswith("Z")
    assert envelope["detail"]["image_id"] == image_id and envelope["detail"]["class"] == "cat"


def test_thumbnail_is_bounded_to_800(runtime: Runtime) -> None:
    image_id = accept(runtime, "big.jpg", size=(3000, 2000))
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and (image.width, image.height) == (3000, 2000)
    thumb = Image.open(io.BytesIO(runtime.blobs.get(image.thumbnail or "")))
    assert thumb.size == (800, 533)


def test_identical_file_becomes_duplicate_of_the_first(runtime: Runtime) -> None:
    first = accept(runtime, "a.jpg")
    drain(runtime)
    second = accept(runtime, "copy-of-a.jpg")
    other_owner = runtime.intake.accept_stream(
        io.BytesIO(images.jpeg_bytes(images.photo(640, 480, tint=RED), quality=90)),
        filename="a.jpg",
        owner="bob",
        recipe="colour-pets",
    ).image.id
    drain(runtime)
    dup = runtime.catalog.get_image(second)
    assert dup is not None and dup.status is ImageStatus.DUPLICATE and dup.duplicate_of == first
    # An accepted upload keeps its own bytes: deleting the first must never take them (#13.1).
    assert runtime.blobs.get(dup.location) == runtime.blobs.get(
        runtime.catalog.get_image(first).location  # type: ignore[union-attr]
    )
    assert runtime.catalog.detection_records(second) == []
    bob = runtime.catalog.get_image(other_owner)
    assert bob is not None and bob.status is ImageStatus.COMPLETED  # owners are separate
    original = runtime.catalog.get_image(first)
    assert original is not None and dup.phash == original.phash and len(original.phash or "") == 16


def test_a_duplicate_costs_no_thumbnail_and_shows_its_holders(runtime: Runtime) -> None:
    first = accept(runtime, "a.jpg")
    second = accept(runtime, "copy-of-a.jpg")
    drain(runtime)
    dup, original = runtime.catalog.get_image(second), runtime.catalog.get_image(first)
    assert dup is not None and original is not None and dup.status is ImageStatus.DUPLICATE
    assert dup.thumbnail is None and original.thumbnail is not None
    stored = [p.name for p in (runtime.settings.home / "thumbnails").rglob("*") if p.is_dir()]
    assert second not in stored and first in stored  # nothing made for the copy
    steps = runtime.catalog.step_outputs(dup.job_id or "")
    assert "hash" in steps and "thumbnail" not in steps
    record = image_record(dup, runtime.blobs, runtime.catalog)
    assert record["thumbnail"] == runtime.blobs.url(original.thumbnail)


def test_built_in_recipes_find_duplicates_before_any_derivative(runtime: Runtime) -> None:
    for compiled in runtime.recipes.all():
        names = [step.spec.step for step in compiled.steps]
        if "hash" in names and "thumbnail" in names:
            assert names.index("hash") < names.index("thumbnail"), compiled.name


def test_perceptual_hash_survives_resizing_and_tells_pictures_apart() -> None:
    from darkroom.imaging import hamming, perceptual_hash

    picture = images.photo(800, 600, seed=1)
    resized = picture.resize((400, 300))
    recompressed = Image.open(io.BytesIO(images.jpeg_bytes(picture, quality=40)))
    different = images.photo(800, 600, seed=2)
    base = perceptual_hash(picture)
    assert hamming(base, perceptual_hash(resized)) <= 4
    assert hamming(base, perceptual_hash(recompressed)) <= 6
    assert hamming(base, perceptual_hash(different)) >= 16


def test_redelivered_finished_job_changes_nothing(runtime: Runtime) -> None:
    image_id = accept(runtime, "cat.jpg")
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    from darkroom.domain.records import Job

    runtime.queue.enqueue(
        Job(id=image.job_id or "", image_id=image_id, owner="alice", recipe="colour-pets")
    )
    before = events_of(runtime, image_id)
    claim = runtime.queue.claim("w", 30)
    assert claim is not None
    assert runtime.engine.process(claim).status == "skipped"
    assert events_of(runtime, image_id) == before
    assert len(runtime.catalog.detection_records(image_id)) == 1


def test_resume_after_a_crash_repeats_no_finished_step(runtime: Runtime) -> None:
    """A worker died after organize moved the file but before its result was stored."""
    image_id = accept(runtime, "cat.jpg")
    claim = runtime.queue.claim("doomed", visibility=0.05)
    assert claim is not None
    # Run the first steps by hand, as the dead worker did, then make organize's move happen
    # without its record.
    from darkroom.steps.base import StepContext

    engine = runtime.engine
    recipe = runtime.recipes.get("colour-pets")
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    outputs: dict[str, dict[str, Any]] = {}
    scratch: dict[str, Any] = {}
    for step in recipe.steps[:6]:
        ctx = StepContext(
            image, claim.job, step.name, outputs, engine.ports, engine.limits, scratch
        )
        result = step.definition.run(ctx, step.settings)
        runtime.catalog.finish_steps(
            claim.job.id, image_id, [FinishedStep(step.name, result.output, result.image)]
        )
        outputs[step.name] = result.output
    runtime.blobs.move(image.location, f"cats/alice/{image_id}.jpg")
    thumb_key = runtime.catalog.get_image(image_id).thumbnail  # type: ignore[union-attr]
    thumb_before = runtime.blobs.get(thumb_key or "")
    import time

    time.sleep(0.1)  # the claim expires
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert image.location == f"cats/alice/{image_id}.jpg" and runtime.blobs.exists(image.location)
    assert len(runtime.catalog.detection_records(image_id)) == 1
    assert runtime.blobs.get(image.thumbnail or "") == thumb_before
    with runtime.db.read() as conn:
        finished = conn.execute(select(func.count()).select_from(schema.step_results)).scalar()
    assert finished == len(recipe.steps)


def test_a_step_stored_twice_keeps_its_first_result_changes_and_events(runtime: Runtime) -> None:
    """Two workers finishing the same step (the first one's claim expired): the first result
    stands, the second's changes to the image and its events are dropped, while the job's own
    changes in the same batch still apply."""
    from darkroom.domain.events import make_event

    image_id = accept(runtime, "cat.jpg")
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.job_id is not None
    job_id, catalog = image.job_id, runtime.catalog

    def announce(key: str) -> tuple[Event, ...]:
        return (make_event("test", "Tested", {"image_id": image_id, "owner": "alice"}, key=key),)

    first = FinishedStep("probe", {"run": 1}, {"width": 11}, announce("first"))
    catalog.finish_steps(job_id, image_id, [first])
    again = FinishedStep("probe", {"run": 2}, {"width": 22}, announce("second"))
    other = FinishedStep("other", {"run": 2}, {"height": 33}, announce("other"))
    catalog.finish_steps(job_id, image_id, [again, other], {"format": "png"}, announce("job"))

    assert catalog.step_outputs(job_id) == {"probe": {"run": 1}, "other": {"run": 2}}
    stored = catalog.get_image(image_id)
    assert stored is not None
    assert (stored.width, stored.height, stored.format) == (11, 33, "png")
    tested = [e.id for e in catalog.pending_events(limit=1000) if e.detail_type == "Tested"]
    expected = {announce(key)[0].id for key in ("first", "other", "job")}
    assert set(tested) == expected


@pytest.mark.parametrize("where", ["before organize", "after organize"])
def test_an_image_deleted_while_its_job_runs_leaves_nothing_behind(
    runtime: Runtime, settings: Settings, where: str
) -> None:
    """The steps after the delete must not leave thumbnails, a filed original, index entries or
    records that nothing points at."""
    steps = [
        "{step: validate}",
        "{step: normalize}",
        "{step: thumbnail, with: {sizes: [64]}}",
        "{step: hash}",
        "{step: detect, with: {provider: 'tests.plugins:colour_detector'}}",
        "{step: classify, with: {classes: {cat: [cat], dog: [dog]}, fallback: other}}",
        "{step: organize}",
        "{step: record}",
        "{step: embed}",
        "{step: index}",
    ]
    position = steps.index("{step: organize}") + (0 if where == "before organize" else 1)
    steps.insert(position, "{step: 'tests.plugins:DELETE_OWN_IMAGE'}")
    assert settings.recipes_dir is not None
    (settings.recipes_dir / "vanishing.yaml").write_text(
        "name: vanishing\nsteps:\n" + "".join(f"  - {step}\n" for step in steps)
    )
    rt = build(settings)
    try:
        image_id = accept(rt, "cat.jpg", recipe="vanishing")
        drain(rt)
        assert rt.catalog.get_image(image_id) is None
        blobs = [p for p in settings.home.rglob("*") if p.is_file() and "darkroom.db" not in p.name]
        assert blobs == []
        assert rt.catalog.detection_records(image_id) == []
        assert rt.vectors.vector(rt.search.embedder().space, image_id) is None
        assert rt.text.search("alice", "cat", 10) == []
        with rt.db.read() as conn:
            table = schema.step_results
            rows = conn.execute(select(func.count()).where(table.c.image_id == image_id)).scalar()
        assert rows == 0
    finally:
        rt.close()


def test_organize_finishes_a_half_done_move(runtime: Runtime) -> None:
    """Copy landed, source not yet removed (an S3 copy+delete cut in the middle)."""
    image_id = accept(runtime, "cat.jpg")
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    runtime.blobs.put(f"cats/alice/{image_id}.jpg", runtime.blobs.get(image.location))
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.location == f"cats/alice/{image_id}.jpg"
    assert not runtime.blobs.exists(f"input/alice/{image_id}.jpg")


def test_poison_goes_to_the_dlq_after_its_attempts_and_the_rest_completes(runtime: Runtime) -> None:
    good = [accept(runtime, f"good-{n}.jpg", seed=n, recipe="poisoned") for n in range(3)]
    bad = accept(runtime, "poison-pill.jpg", seed=9, recipe="poisoned")
    drain(runtime)
    for image_id in good:
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED
    image = runtime.catalog.get_image(bad)
    assert image is not None and image.status is ImageStatus.FAILED
    assert image.error == "poison: RuntimeError: poisoned by poison-pill.jpg"
    [letter] = runtime.queue.dead_letters()
    assert letter.job.image_id == bad and letter.attempts == 3  # max_attempts of the recipe
    assert "RuntimeError: poisoned by poison-pill.jpg" in letter.traceback
    assert "ImageFailed" in [e["detail-type"] for e in events_of(runtime, bad)]
    # Replay: it fails again the same number of times, no more.
    assert dlq.replay(runtime.catalog, runtime.queue, letter)
    assert runtime.catalog.get_image(bad).status is ImageStatus.QUEUED  # type: ignore[union-attr]
    drain(runtime)
    [again] = runtime.queue.dead_letters()
    assert again.attempts == 3


def test_replay_after_a_fix_completes(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = accept(runtime, "poison.jpg", recipe="poisoned")
    drain(runtime)
    assert runtime.catalog.get_image(bad).status is ImageStatus.FAILED  # type: ignore[union-attr]
    from darkroom.engine.recipes import load_text

    fixed = load_text(
        "name: poisoned\nsteps: [{step: validate}, {step: 'tests.plugins:POISON', name: poison, with: {marker: never}}, {step: thumbnail}]\n",
        origin="fixed",
    )
    runtime.recipes._add(fixed)
    assert dlq.replay_all(runtime.catalog, runtime.queue) == 1
    drain(runtime)
    image = runtime.catalog.get_image(bad)
    assert image is not None and image.status is ImageStatus.COMPLETED and image.error is None


def test_a_job_whose_worker_keeps_dying_is_dead_lettered(runtime: Runtime) -> None:
    image_id = accept(runtime, "cat.jpg")
    for _ in range(10):  # ten deliveries that never finish (the worker is killed each time)
        claim = runtime.queue.claim("dies", visibility=0)
        assert claim is not None
    claim = runtime.queue.claim("survivor", visibility=30)
    assert claim is not None and claim.attempt == 11
    outcome = runtime.engine.process(claim)
    assert outcome.status == "failed" and "delivered 11 times" in (outcome.error or "")
    assert runtime.catalog.get_image(image_id).status is ImageStatus.FAILED  # type: ignore[union-attr]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(fail_first=1)
    yield server
    server.close()


def test_uncertain_results_reach_a_signed_webhook_with_retry(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DARKROOM_NOTIFY_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("DARKROOM_NOTIFY_WEBHOOK_SECRET", "s3cret")
    runtime = build(Settings())
    runtime.webhooks.policy = runtime.webhooks.policy.model_copy(
        update={"backoff_seconds": 0.01, "jitter": False}
    )
    try:
        unsure = accept(runtime, "unsure.jpg", GREEN)
        accept(runtime, "sure.jpg", RED, seed=4)
        drain(runtime)
        import time

        deadline = time.monotonic() + 10
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            runtime.webhooks.deliver_due()
            time.sleep(0.02)
        assert len(receiver.requests) == 2  # one failure (500), then the retry
        headers, body = receiver.requests[-1]
        assert verify("s3cret", body, headers[SIGNATURE_HEADER])
        assert not verify("wrong", body, headers[SIGNATURE_HEADER])
        assert verify("s3cret", body.decode(), headers[SIGNATURE_HEADER])  # str bodies too
        assert not verify("s3cret", body + b" ", headers[SIGNATURE_HEADER])
        payload = json.loads(body)
        assert payload["subject"] == "ClassificationUncertain"
        assert payload["message"]["image_id"] == unsure and payload["message"]["confidence"] == 65.0
        [delivery] = runtime.webhooks.deliveries()
        assert (
            delivery["state"] == "delivered"
            and delivery["attempts"] == 2
            and delivery["last_status"] == 204
        )
    finally:
        runtime.close()


def test_haar_detector_finds_a_real_face() -> None:
    """The offline default on a real photograph (scikit-image's astronaut)."""
    from skimage import data

    from darkroom.providers.opencv import HaarDetector, HaarOptions

    picture = Image.fromarray(data.astronaut())
    picture.thumbnail((400, 400))
    labels = HaarDetector(HaarOptions.from_dict({})).detect(images_array(picture))
    people = [label for label in labels if label.name == "person"]
    assert people and max(label.confidence for label in people) >= 80
    best = max(people, key=lambda label: label.confidence)
    assert best.box is not None and 0.25 < best.box[0] < 0.5 and best.box[1] < 0.3  # her face


def images_array(picture: Image.Image) -> Any:
    import numpy as np

    return np.asarray(picture.convert("RGB"))


def test_haar_options_are_checked() -> None:
    from darkroom.providers.opencv import HaarDetector, HaarOptions

    with pytest.raises(ValueError, match="unknown options"):
        HaarOptions.from_dict({"treshold": 3})
    with pytest.raises(ValueError, match="cannot load cascade"):
        HaarDetector(HaarOptions.from_dict({"cascades": {"dog": "haarcascade_dog.xml"}}))


def test_unknown_detector_provider_fails_the_job_with_its_name(
    runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "r.yaml").write_text(
        "name: nodetector\nretry: {max_attempts: 1}\nsteps: [{step: validate}, {step: detect, with: {provider: magic}}]\n"
    )
    runtime.recipes.add_file(tmp_path / "r.yaml")
    image_id = accept(runtime, "x.jpg", recipe="nodetector")
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.FAILED
    assert "unknown detector provider 'magic'; available: " in (image.error or "")
    assert "opencv" in (image.error or "")


def test_a_worker_killed_after_organize_resumes_with_the_original_moved(
    runtime: Runtime, tmp_path: Path
) -> None:
    steps = "[{step: validate}, {step: normalize}, {step: detect, with: {provider: 'tests.plugins:colour_detector', size: 64}}, {step: classify}, {step: organize}"
    (tmp_path / "dies.yaml").write_text(
        f"name: dies\nsteps: {steps}, {{step: 'tests.plugins:DIE', name: die}}]\n"
    )
    (tmp_path / "lives.yaml").write_text(f"name: dies\nsteps: {steps}, {{step: record}}]\n")
    runtime.recipes.add_file(tmp_path / "dies.yaml")
    image_id = accept(runtime, "cat.jpg", recipe="dies")
    claim = runtime.queue.claim("doomed", visibility=0.05)
    assert claim is not None
    with pytest.raises(KeyboardInterrupt):
        runtime.engine.process(claim)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.location.startswith("cats/")  # the move was saved with it
    runtime.recipes.add_file(tmp_path / "lives.yaml")
    import time

    time.sleep(0.1)
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED, image and image.error
    assert len(runtime.catalog.detection_records(image_id)) == 1


def test_quick_jobs_are_claimed_together_and_a_crash_hands_back_the_rest(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [accept(runtime, f"p{n}.jpg", size=(64, 48), seed=n) for n in range(5)]
    process = runtime.engine.process
    calls = []

    def crash_on_second(claim: Any, group: Any = None) -> Any:
        calls.append(claim.job.image_id)
        if len(calls) == 2:
            raise ConnectionError("database went away")
        return process(claim, group)

    monkeypatch.setattr(runtime.engine, "process", crash_on_second)
    with pytest.raises(ConnectionError):
        runtime.engine.run_batch("w", 4)
    assert (
        runtime.queue.depth()["ready"] == 3
    )  # the crashed one waits for its timeout; the rest are back
    monkeypatch.setattr(runtime.engine, "process", process)
    outcomes = runtime.engine.run_batch("w", 10)
    assert len(outcomes) == 3 and all(o.status == "completed" for o in outcomes)
    assert runtime.engine.run_batch("w", 10) == []
    completed = [i for i in ids if runtime.catalog.get_image(i).status is ImageStatus.COMPLETED]  # type: ignore[union-attr]
    assert len(completed) == 4


def test_a_worker_claims_many_quick_jobs_at_once_and_slow_ones_one_by_one() -> None:
    from darkroom.engine.worker import MAX_CLAIM, _BatchSize

    batch = _BatchSize()
    assert batch.size == 1  # nothing known yet
    batch.learn([0.001, 0.0015])
    assert batch.size == MAX_CLAIM
    for _ in range(20):
        batch.learn([0.4])
    assert batch.size == 1


def test_quick_jobs_share_one_final_commit_and_a_deleted_one_is_cleaned_up(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from darkroom.engine import lifecycle

    ids = [accept(runtime, f"q{n}.jpg", size=(64, 48), seed=n) for n in range(3)]
    process = runtime.engine.process
    waiting: list[int] = []

    def delete_second_before_its_commit(claim: Any, group: Any = None) -> Any:
        outcome = process(claim, group)
        waiting.append(len(group.finishes))
        if claim.job.image_id == ids[1]:
            image = runtime.catalog.get_image(ids[1])
            assert image is not None and image.status is not ImageStatus.COMPLETED  # not yet
            lifecycle.delete_image(
                runtime.catalog,
                runtime.blobs,
                runtime.outbox,
                image,
                (runtime.vectors, runtime.text),
                runtime.detections,
            )
        return outcome

    monkeypatch.setattr(runtime.engine, "process", delete_second_before_its_commit)
    outcomes = runtime.engine.run_batch("w", 10)
    assert waiting == [1, 2, 3]  # each job's final commit waited for the group's
    assert {o.image_id: o.status for o in outcomes} == {
        ids[0]: "completed",
        ids[1]: "deleted",
        ids[2]: "completed",
    }
    assert runtime.catalog.get_image(ids[1]) is None
    assert runtime.queue.depth() == {"ready": 0, "delayed": 0, "in_flight": 0, "dead": 0}
    for image_id in (ids[0], ids[2]):
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED
        done = [e for e in events_of(runtime, image_id) if e["detail-type"] == "ImageProcessed"]
        assert [e["detail"]["image_id"] for e in done].count(image_id) == 1
