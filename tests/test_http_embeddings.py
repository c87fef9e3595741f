"""The http embeddings provider through httpx against a fake service answering in Voyage's and
OpenAI's published shapes: request bodies, batching, order by index, retries, refusals."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pytest

from darkroom.domain.errors import Permanent
from darkroom.providers.http_calls import ServiceRefused
from darkroom.providers.http_embeddings import HttpEmbedder, TextOnly
from tests.fake_llm import FakeModelService

SECRET = "pa-test-0a9b8c7d6e5f4a3b2c1d"
APIS = ["voyage", "openai"]


@pytest.fixture
def fake(model_service: FakeModelService, monkeypatch: pytest.MonkeyPatch) -> FakeModelService:
    service = model_service
    service.reset()
    for name in ("OPENAI", "VOYAGE"):
        monkeypatch.delenv(f"{name}_API_KEY", raising=False)
        monkeypatch.setenv(f"DARKROOM_{name}_API_KEY", SECRET)
    for name in ("API", "MODEL", "BASE_URL", "DIM", "THRESHOLD"):
        monkeypatch.delenv(f"DARKROOM_EMBEDDINGS_{name}", raising=False)
    return service


def embedder(fake: FakeModelService, api: str, **options: Any) -> HttpEmbedder:
    settings = {"api": api, "base_url": f"{fake.url}/v1", "model": "fake-embed", "dim": 64}
    return HttpEmbedder({**settings, "backoff_seconds": 0.05, **options})


@pytest.mark.parametrize("api", APIS)
def test_request_and_response_shapes(fake: FakeModelService, api: str) -> None:
    http = embedder(fake, api)
    stored = http.embed_documents(["a cat on a blanket", "a dog on a beach"])
    query = http.embed_texts(["kitten"])
    assert stored.shape == (2, 64) and stored.dtype == np.float32
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0)
    first, second = fake.requests
    assert first.path == "/v1/embeddings"
    assert first.headers["authorization"] == f"Bearer {SECRET}"
    assert first.body["input"] == ["a cat on a blanket", "a dog on a beach"]
    assert first.body["model"] == "fake-embed"
    if api == "voyage":
        assert (first.body["input_type"], second.body["input_type"]) == ("document", "query")
        assert first.body["output_dimension"] == 64
    else:
        assert "input_type" not in first.body
        assert first.body["dimensions"] == 64
    # The fake answers in reverse order: rows follow `index`, so a kitten is nearest the cat.
    scores = stored @ query[0]
    assert scores[0] > http.threshold > scores[1]
    assert http.space == f"http/fake-embed/{api}-64"


@pytest.mark.parametrize("api", APIS)
def test_inputs_go_in_batches_and_come_back_in_order(fake: FakeModelService, api: str) -> None:
    texts = [f"picture number {word}" for word in ("one", "two", "three", "four", "five")]
    batched = embedder(fake, api, batch_size=2).embed_documents(texts)
    assert [len(r.body["input"]) for r in fake.requests] == [2, 2, 1]
    whole = embedder(fake, api).embed_documents(texts)
    assert np.allclose(batched, whole)


def test_a_native_dimension_is_not_asked_for(fake: FakeModelService) -> None:
    http = HttpEmbedder({"api": "openai", "base_url": f"{fake.url}/v1"})
    assert (http.model, http.dim) == ("text-embedding-3-small", 1536)
    with pytest.raises(ValueError, match="vectors of 64 dimensions, expected 1536"):
        http.embed_texts(["x"])  # the fake answers 64 when not told otherwise
    assert "dimensions" not in fake.requests[0].body


@pytest.mark.parametrize("api", APIS)
def test_rate_limits_server_errors_and_timeouts_are_retried(
    fake: FakeModelService, api: str
) -> None:
    fake.fail(429, retry_after="0.3").fail(502).stall(1.0)
    started = time.monotonic()
    vectors = embedder(fake, api, timeout_seconds=0.3).embed_texts(["a cat"])
    assert vectors.shape == (1, 64)
    assert len(fake.requests) == 4
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("api", APIS)
def test_a_refused_key_fails_at_once(
    fake: FakeModelService, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail(401, echo_key=True)
    with pytest.raises(ServiceRefused) as caught:
        embedder(fake, api).embed_texts(["a cat"])
    assert isinstance(caught.value, Permanent)
    assert f"DARKROOM_{api.upper()}_API_KEY" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in caplog.text
    assert len(fake.requests) == 1


def test_no_key_fails_before_any_request(
    fake: FakeModelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DARKROOM_VOYAGE_API_KEY")
    with pytest.raises(Permanent, match="VOYAGE_API_KEY"):
        HttpEmbedder({"api": "voyage"}).embed_texts(["a cat"])
    assert not fake.requests


def test_the_service_follows_the_key_that_is_set(
    fake: FakeModelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert HttpEmbedder({}).api == "voyage"
    monkeypatch.delenv("DARKROOM_VOYAGE_API_KEY")
    assert HttpEmbedder({}).api == "openai"


def test_pictures_are_refused_honestly(fake: FakeModelService) -> None:
    with pytest.raises(TextOnly, match="from: analysis"):
        embedder(fake, "voyage").embed_images([np.zeros((8, 8, 3), dtype=np.uint8)])
    assert not fake.requests


def test_an_unknown_model_needs_its_dimension() -> None:
    with pytest.raises(ValueError, match="give `dim`"):
        HttpEmbedder({"api": "openai", "model": "my-own-model"})
