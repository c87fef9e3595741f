"""The analyze step and the collections recipe, end to end through the engine with a fake model
service: what the model sees, versions of analyses, full text and search by meaning over what
they say, and clear failures without a key. On SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from darkroom.adapters.sql import schema
from darkroom.domain.analysis import DEFAULT_PROMPT, DEFAULT_SCHEMA, Analysis, fingerprint
from darkroom.domain.records import ImageStatus
from darkroom.engine import lifecycle
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import drain
from tests.fake_llm import SCENES, FakeModelService

BOTH_BACKENDS = True
SECRET = "sk-test-analyze-7e6d5c4b3a29"
TINTS = {"red": (250, 10, 10), "blue": (10, 10, 250), "green": (10, 250, 10)}


@pytest.fixture(autouse=True)
def fake(
    model_service: FakeModelService, monkeypatch: pytest.MonkeyPatch, no_model_keys: None
) -> FakeModelService:
    """The model services of the collections recipe pointed at the fake, with one OpenAI key:
    set before the runtime is built, as a user sets them before `darkroom serve`."""
    service = model_service
    service.reset()
    monkeypatch.setenv("DARKROOM_OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("DARKROOM_LLM_BASE_URL", f"{service.url}/v1")
    monkeypatch.setenv("DARKROOM_EMBEDDINGS_BASE_URL", f"{service.url}/v1")
    monkeypatch.setenv("DARKROOM_EMBEDDINGS_MODEL", "fake-embed")
    monkeypatch.setenv("DARKROOM_EMBEDDINGS_DIM", "256")
    monkeypatch.setenv("DARKROOM_TEXT_EMBEDDER", "http")
    return service


def add(runtime: Runtime, scene: str, size: tuple[int, int] = (1600, 1200)) -> str:
    picture = images.photo(*size, seed=len(scene), tint=TINTS[scene])
    return runtime.intake.accept_stream(
        io.BytesIO(images.jpeg_bytes(picture, quality=90)),
        filename=f"IMG_{scene.upper()}.jpg",
        owner="alice",
        recipe="collections",
    ).image.id


def collection(runtime: Runtime) -> dict[str, str]:
    ids = {scene: add(runtime, scene) for scene in TINTS}
    drain(runtime)
    for image_id in ids.values():
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.COMPLETED, image
    return ids


@pytest.mark.slow  # the whole collections recipe, OCR included
def test_collections_recipe_end_to_end(runtime: Runtime, fake: FakeModelService) -> None:
    ids = collection(runtime)
    # The model saw each 1600x1200 original as its 800 px thumbnail.
    assert sorted(fake.pictures) == [
        ("blue", (800, 600)),
        ("green", (800, 600)),
        ("red", (800, 600)),
    ]
    for scene, image_id in ids.items():
        [analysis] = runtime.catalog.analyses(image_id)
        assert analysis.result == SCENES[scene]
        assert (analysis.version, analysis.provider, analysis.model) == (
            1,
            "llm:openai",
            "fake-vision-1",
        )
        assert analysis.seconds > 0 and analysis.attempts == 1
        assert analysis.prompt_hash == fingerprint(DEFAULT_PROMPT)
        assert analysis.schema_hash == fingerprint(DEFAULT_SCHEMA)
    with runtime.db.read() as conn:
        rows = conn.execute(
            select(schema.events.c.detail).where(schema.events.c.detail_type == "ImageAnalyzed")
        ).all()
    details = {row.detail["image_id"]: row.detail for row in rows}
    assert details[ids["red"]]["result"]["category"] == "pet"
    assert details[ids["red"]]["version"] == 1


def test_full_text_finds_words_only_the_analysis_holds(runtime: Runtime) -> None:
    ids = collection(runtime)
    for word, scene in [("blanket", "red"), ("swimming", "blue"), ("woodland", "green")]:
        hits = runtime.search.text.search("alice", word, 10)
        assert [hit.image_id for hit in hits] == [ids[scene]], word
    assert runtime.search.text.search("bob", "blanket", 10) == []


def test_search_by_meaning_ranks_what_shares_no_word(runtime: Runtime) -> None:
    ids = collection(runtime)
    hits = runtime.search.by_text("alice", "kitten")  # no analysis says "kitten"
    assert hits and hits[0].image_id == ids["red"]
    assert "vector" in hits[0].sources and "text" not in hits[0].sources
    hits = runtime.search.by_text("alice", "puppy at the seaside")
    assert hits[0].image_id == ids["blue"]
    assert runtime.search.by_text("alice", "spaceship") == []  # nothing relevant: nothing
    # Looking alike still works beside it: the picture embedder is unchanged.
    like = runtime.search.like_image("alice", ids["red"], min_score=-1.0)
    assert like is not None and ids["red"] not in [hit.image_id for hit in like]


def test_reanalysis_is_a_new_version_and_the_latest_is_served(
    runtime: Runtime, fake: FakeModelService
) -> None:
    ids = collection(runtime)
    red = runtime.catalog.get_image(ids["red"])
    assert red is not None
    assert runtime.search.text.search("alice", "zeppelin", 10) == []
    fake.model, fake.extra_tags = "fake-vision-2", ["zeppelin"]
    lifecycle.reprocess(runtime.catalog, runtime.queue, runtime.recipes, red)
    drain(runtime)
    newer, older = runtime.catalog.analyses(red.id)
    assert (newer.version, older.version) == (2, 1)
    assert (newer.model, older.model) == ("fake-vision-2", "fake-vision-1")
    assert newer.job_id != older.job_id
    assert "zeppelin" in newer.result["tags"] and "zeppelin" not in older.result["tags"]
    assert runtime.catalog.latest_analysis(red.id) == newer
    hits = runtime.search.text.search("alice", "zeppelin", 10)
    assert [hit.image_id for hit in hits] == [red.id]


def test_a_repeated_step_stores_one_version(runtime: Runtime) -> None:
    ids = collection(runtime)
    first = runtime.catalog.analyses(ids["green"])[0]
    again = runtime.catalog.add_analysis(
        Analysis(**{**first.__dict__, "version": 0, "result": {"category": "changed"}})
    )
    assert again == first
    assert len(runtime.catalog.analyses(ids["green"])) == 1
    fresh = Analysis(**{**first.__dict__, "id": "f" * 32, "version": 0})
    assert runtime.catalog.add_analysis(fresh).version == 2


def test_without_a_key_each_image_fails_with_the_reason(
    runtime: Runtime, fake: FakeModelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DARKROOM_OPENAI_API_KEY")
    monkeypatch.delenv("DARKROOM_LLM_BASE_URL")  # the public service, which needs a key
    ids = [add(runtime, "red"), add(runtime, "blue", (640, 480))]
    assert drain(runtime) == 2  # one delivery each: nothing to retry
    for image_id in ids:
        image = runtime.catalog.get_image(image_id)
        assert image is not None and image.status is ImageStatus.FAILED
        assert image.error is not None
        assert "no API key" in image.error and "DARKROOM_OPENAI_API_KEY" in image.error
    assert {letter.job.image_id for letter in runtime.queue.dead_letters()} == set(ids)
    assert not fake.requests


def test_a_refused_key_fails_the_image_without_showing_the_key(
    runtime: Runtime, fake: FakeModelService
) -> None:
    fake.fail(401, echo_key=True)
    image_id = add(runtime, "green", (320, 240))
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.FAILED
    assert image.error is not None and "HTTP 401" in image.error
    assert SECRET not in image.error
    assert SECRET not in json.dumps([letter.traceback for letter in runtime.queue.dead_letters()])


def test_deleting_an_image_deletes_its_analyses(runtime: Runtime) -> None:
    ids = collection(runtime)
    red = runtime.catalog.get_image(ids["red"])
    assert red is not None
    lifecycle.delete_image(
        runtime.catalog, runtime.blobs, runtime.outbox, red, (runtime.vectors, runtime.text)
    )
    assert runtime.catalog.analyses(red.id) == []
    assert runtime.search.text.search("alice", "blanket", 10) == []
    assert runtime.catalog.analyses(ids["blue"])


def test_a_recipe_schema_must_be_a_json_schema_of_an_object(tmp_path: Path) -> None:
    from darkroom.domain.errors import RecipeError
    from darkroom.engine.recipes import load_text

    recipe = "name: x\nsteps:\n  - step: validate\n  - step: analyze\n    with:\n      schema: {}\n"
    with pytest.raises(RecipeError, match='"type": "object"'):
        load_text(recipe.replace("{}", "{type: array}"), origin="test")
    with pytest.raises(RecipeError, match="not a valid JSON Schema"):
        load_text(recipe.replace("{}", "{type: object, required: 3}"), origin="test")
    assert load_text(recipe.replace("{}", "{type: object}"), origin="test")


def test_words_still_match_when_the_text_embedder_fails(
    runtime: Runtime, fake: FakeModelService, caplog: pytest.LogCaptureFixture
) -> None:
    ids = collection(runtime)
    fake.fail(401, echo_key=True)
    hits = runtime.search.by_text("alice", "blanket")
    assert [(hit.image_id, list(hit.sources)) for hit in hits] == [(ids["red"], ["text"])]
    assert "text embedder failed" in caplog.text and SECRET not in caplog.text
