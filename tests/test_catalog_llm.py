"""The catalog recipe's `llm` garments provider against the fake model service over real HTTP:
the schema the model is given comes from the vocabulary (enums), answers are validated, words
outside the vocabulary are mapped through synonyms or dropped and counted, malformed answers
are sent back, a refused key fails the image with the reason."""

from __future__ import annotations

import io
from typing import Any

import pytest

from darkroom.domain.records import ImageStatus
from darkroom.steps import vocabularies
from darkroom.wiring import Runtime
from tests.conftest import drain
from tests.fake_llm import FakeModelService
from tests.garment_pictures import garment

BOTH_BACKENDS = True
SECRET = "sk-test-catalog-5a4b3c2d1e0f"


@pytest.fixture(autouse=True)
def fake(
    model_service: FakeModelService, monkeypatch: pytest.MonkeyPatch, no_model_keys: None
) -> FakeModelService:
    model_service.reset()
    monkeypatch.setenv("DARKROOM_OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("DARKROOM_LLM_BASE_URL", f"{model_service.url}/v1")
    return model_service


def answer(*garments: dict[str, Any]) -> dict[str, Any]:
    return {"garments": list(garments)}


FLORAL_FROCK = {
    "category": "Frock",  # a synonym of dress, in the wrong case
    "confidence": 0.93,
    "attributes": {
        "pattern": [{"value": "flowers", "confidence": 0.88}],  # synonym of floral
        "material": [
            {"value": "cotton", "confidence": 0.7},
            {"value": "unobtainium", "confidence": 0.6},  # in no family: dropped, counted
        ],
        "sleeve": [{"value": "short-sleeved", "confidence": 0.8}],
        "length": [{"value": "midi", "confidence": 0.75}],
        "sparkle": [{"value": "lots", "confidence": 0.5}],  # a family the vocabulary lacks
    },
}
SPACESHIP = {"category": "spaceship", "confidence": 0.4, "attributes": {}}


def add(runtime: Runtime, name: str = "dress.jpg", **meta: object) -> str:
    out = io.BytesIO()
    garment(3000, 2000, (200, 25, 30), shape="dress").save(out, format="JPEG", quality=90)
    out.seek(0)
    return runtime.intake.accept_stream(
        out, filename=name, owner="alice", recipe="catalog", metadata=meta or None
    ).image.id


def finished(runtime: Runtime, image_id: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    return image, runtime.catalog.step_outputs(image.job_id or "")


def test_answers_are_held_to_the_vocabulary(runtime: Runtime, fake: FakeModelService) -> None:
    fake.reply(answer(FLORAL_FROCK, SPACESHIP))
    image_id = add(runtime, sku="D-77")
    drain(runtime)
    image, steps = finished(runtime, image_id)
    assert image.status is ImageStatus.COMPLETED, image.error
    described = steps["garments"]
    assert described["provider"] == "llm:openai" and described["attempts"] == 1
    [dress] = described["garments"]
    assert dress["category"] == "dress" and dress["confidence"] == 0.93
    assert dress["attributes"] == {
        "pattern": [{"value": "floral", "confidence": 0.88}],
        "material": [{"value": "cotton", "confidence": 0.7}],
        "sleeve": [{"value": "short sleeve", "confidence": 0.8}],
        "length": [{"value": "midi", "confidence": 0.75}],
    }
    assert described["dropped"] == {"category": 1, "material": 1, "sparkle": 1}
    assert described["mapped"] == 3  # Frock, flowers, short-sleeved
    assert "unobtainium" not in str(steps) and "spaceship" not in str(steps)

    # What the model was given: the standardised picture and a schema of the vocabulary's enums.
    assert fake.pictures[0][1] == (1024, 683)
    sent = fake.requests[0].body["response_format"]["json_schema"]
    garment_schema = sent["schema"]["properties"]["garments"]["items"]
    vocabulary = vocabularies.load(None)
    assert garment_schema["properties"]["category"]["enum"] == list(vocabulary.category.values)
    pattern = garment_schema["properties"]["attributes"]["properties"]["pattern"]
    assert "floral" in pattern["items"]["properties"]["value"]["enum"]
    assert sent["strict"] is True

    # Found by words and by facets, and announced with the garment list.
    hits = runtime.search.by_text_faceted("alice", "floral dress", {"category": ["dress"]})
    assert [h.image_id for h in hits.hits] == [image_id]
    assert hits.facets["pattern"] == {"floral": 1} and hits.facets["colour"] == {"red": 1}
    none = runtime.search.by_text_faceted("alice", "floral dress", {"category": ["coat"]})
    assert none.hits == []
    from tests.test_catalog import inventory_events

    [event] = inventory_events(runtime, image_id)
    assert event["garments"] == 1 and event["items"] == [dress] and event["sku"] == "D-77"


def test_malformed_and_misshapen_answers_are_sent_back(
    runtime: Runtime, fake: FakeModelService
) -> None:
    fake.reply('{"garments": [{"category": "dress"')  # cut off
    fake.reply({"garments": "a red dress"})  # not the schema's shape
    fake.reply(answer(FLORAL_FROCK))
    image_id = add(runtime)
    drain(runtime)
    image, steps = finished(runtime, image_id)
    assert image.status is ImageStatus.COMPLETED, image.error
    assert steps["garments"]["attempts"] == 3
    assert [g["category"] for g in steps["garments"]["garments"]] == ["dress"]
    corrections = fake.requests[2].body["messages"]
    assert any("does not fit the schema" in str(m) for m in corrections)


def test_an_answer_that_never_fits_fails_the_image_with_the_reason(
    runtime: Runtime, fake: FakeModelService
) -> None:
    for _ in range(3):
        fake.reply({"garments": "a red dress"})
    image_id = add(runtime)
    drain(runtime)
    image, _ = finished(runtime, image_id)
    assert image.status is ImageStatus.FAILED
    assert "no answer fitted the schema" in (image.error or "")


def test_a_refused_key_fails_the_image_and_search_still_answers(
    runtime: Runtime, fake: FakeModelService
) -> None:
    fake.fail(401, echo_key=True)
    image_id = add(runtime)
    drain(runtime)
    image, _ = finished(runtime, image_id)
    assert image.status is ImageStatus.FAILED
    assert "API key was refused (HTTP 401)" in (image.error or "")
    assert SECRET not in (image.error or "")
    assert runtime.search.by_text_faceted("alice", "dress", {}).hits == []  # no 500, no hits
