"""The llm analyzer through its real httpx client path, against a fake service on a loopback port
answering in OpenAI's and Anthropic's published shapes, including every way a call goes wrong."""

from __future__ import annotations

import base64
import io
import logging
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from darkroom.domain.analysis import DEFAULT_PROMPT, DEFAULT_SCHEMA
from darkroom.domain.errors import Permanent
from darkroom.providers.http_calls import ServiceRefused, ServiceUnavailable, retry_after
from darkroom.providers.llm import InvalidAnswer, LlmAnalyzer, MissingKey
from tests import images
from tests.fake_llm import SCENES, FakeModelService

SECRET = "sk-test-5f1d2c9e8b7a6f5e4d3c2b1a"
RED_PICTURE = images.jpeg_bytes(images.photo(320, 240, seed=1, tint=(250, 10, 10)))
APIS = ["openai", "anthropic"]


@pytest.fixture
def fake(
    model_service: FakeModelService, monkeypatch: pytest.MonkeyPatch, no_model_keys: None
) -> FakeModelService:
    service = model_service
    service.reset()
    for name in ("OPENAI", "ANTHROPIC", "VOYAGE"):
        monkeypatch.setenv(f"DARKROOM_{name}_API_KEY", SECRET)
    for name in ("API", "MODEL", "BASE_URL", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"DARKROOM_LLM_{name}", raising=False)
    return service


def analyzer(fake: FakeModelService, api: str, **options: Any) -> LlmAnalyzer:
    base = f"{fake.url}/v1" if api == "openai" else fake.url
    return LlmAnalyzer({"api": api, "base_url": base, "backoff_seconds": 0.05, **options})


def analyze(llm: LlmAnalyzer, schema: dict[str, Any] | None = None) -> Any:
    return llm.analyze(RED_PICTURE, "image/jpeg", DEFAULT_PROMPT, schema or DEFAULT_SCHEMA)


def test_openai_request_carries_the_picture_and_the_schema(fake: FakeModelService) -> None:
    answer = analyze(analyzer(fake, "openai"))
    assert answer.result == SCENES["red"]
    assert (answer.model, answer.attempts) == ("fake-vision-1", 1)
    assert answer.seconds > 0
    [seen] = fake.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {SECRET}"
    parts = seen.body["messages"][0]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == RED_PICTURE
    assert seen.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "analysis", "schema": DEFAULT_SCHEMA, "strict": True},
    }


def test_anthropic_request_uses_an_image_source_and_a_forced_tool(fake: FakeModelService) -> None:
    answer = analyze(analyzer(fake, "anthropic"))
    assert answer.result == SCENES["red"]
    [seen] = fake.requests
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == SECRET
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen.headers
    image = seen.body["messages"][0]["content"][0]
    assert image["type"] == "image"
    assert image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/jpeg"
    assert base64.b64decode(image["source"]["data"]) == RED_PICTURE
    [tool] = seen.body["tools"]
    assert tool["input_schema"] == DEFAULT_SCHEMA
    assert seen.body["tool_choice"] == {"type": "tool", "name": tool["name"]}
    assert seen.body["max_tokens"] > 0


def test_a_schema_strict_mode_cannot_take_is_sent_non_strict_and_still_validated(
    fake: FakeModelService,
) -> None:
    loose = {
        "type": "object",
        "properties": {"summary": {"type": "string"}, "mood": {"type": "string"}},
        "required": ["summary"],
    }
    answer = analyze(analyzer(fake, "openai"), loose)
    assert answer.result["summary"] == SCENES["red"]["summary"]
    assert fake.requests[0].body["response_format"]["json_schema"]["strict"] is False
    fake.invalid()  # no summary: the loose schema still requires one
    assert analyze(analyzer(fake, "openai"), loose).attempts == 2


def test_json_object_mode_puts_the_schema_in_the_prompt(fake: FakeModelService) -> None:
    analyze(analyzer(fake, "openai", response_format="json_object"))
    body = fake.requests[0].body
    assert body["response_format"] == {"type": "json_object"}
    text = body["messages"][0]["content"][0]["text"]
    assert '"text_seen"' in text and DEFAULT_PROMPT in text


@pytest.mark.parametrize("api", APIS)
def test_a_schema_violation_is_sent_back_and_the_next_answer_kept(
    fake: FakeModelService, api: str
) -> None:
    fake.invalid()
    answer = analyze(analyzer(fake, api))
    assert answer.result == SCENES["red"] and answer.attempts == 2
    _, second = fake.requests
    reply = second.body["messages"][-1]
    said = str(reply["content"])
    assert "'summary' is a required property" in said
    assert "is not of type 'array'" in said
    if api == "anthropic":  # the API's own way: an is_error result for the wrong tool call
        turn = second.body["messages"][-2]
        [call] = [b for b in turn["content"] if b["type"] == "tool_use"]
        [result] = reply["content"]
        assert result["type"] == "tool_result" and result["is_error"] is True
        assert result["tool_use_id"] == call["id"]
    else:
        assert second.body["messages"][-2]["role"] == "assistant"


@pytest.mark.parametrize("api", APIS)
def test_malformed_json_is_sent_back_and_the_next_answer_kept(
    fake: FakeModelService, api: str
) -> None:
    fake.malformed()
    answer = analyze(analyzer(fake, api))
    assert answer.result == SCENES["red"] and answer.attempts == 2
    assert "not valid JSON" in str(fake.requests[1].body["messages"][-1]["content"])


@pytest.mark.parametrize("api", APIS)
def test_answers_that_never_fit_fail_with_the_reason(fake: FakeModelService, api: str) -> None:
    fake.invalid().malformed().invalid()
    with pytest.raises(InvalidAnswer) as caught:
        analyze(analyzer(fake, api, attempts=3))
    assert isinstance(caught.value, Permanent)
    assert "3 attempts" in str(caught.value)
    assert "'summary' is a required property" in str(caught.value)
    assert len(fake.requests) == 3


@pytest.mark.parametrize("api", APIS)
def test_429_waits_as_long_as_retry_after_says(fake: FakeModelService, api: str) -> None:
    fake.fail(429, retry_after="0.6")
    started = time.monotonic()
    # A backoff of 5 s would be far longer: the wait must come from Retry-After.
    answer = analyze(analyzer(fake, api, backoff_seconds=5))
    elapsed = time.monotonic() - started
    assert answer.result == SCENES["red"]
    assert len(fake.requests) == 2
    assert 0.6 <= elapsed < 2.5


@pytest.mark.parametrize("api", APIS)
def test_server_errors_are_retried_with_backoff(fake: FakeModelService, api: str) -> None:
    fake.fail(500).fail(503).fail(529)
    assert analyze(analyzer(fake, api)).result == SCENES["red"]
    assert len(fake.requests) == 4


@pytest.mark.parametrize("api", APIS)
def test_a_timeout_is_retried(fake: FakeModelService, api: str) -> None:
    fake.stall(1.5)  # answers in the end: a client that waited for it would ask once
    answer = analyze(analyzer(fake, api, timeout_seconds=0.4))
    assert answer.result == SCENES["red"]
    assert len(fake.requests) == 2  # it gave up on the stalled answer and asked again


def test_retries_run_out_into_an_error_worth_retrying_later(fake: FakeModelService) -> None:
    for _ in range(3):
        fake.fail(500)
    with pytest.raises(ServiceUnavailable) as caught:
        analyze(analyzer(fake, "openai", max_retries=2))
    assert not isinstance(caught.value, Permanent)  # the engine retries the step later
    assert "HTTP 500" in str(caught.value) and "after 3 attempts" in str(caught.value)
    assert len(fake.requests) == 3


def test_a_retry_after_beyond_the_limit_gives_up_at_once(fake: FakeModelService) -> None:
    fake.fail(429, retry_after="3600")
    with pytest.raises(ServiceUnavailable, match="asked to wait 3600 s"):
        analyze(analyzer(fake, "openai"))
    assert len(fake.requests) == 1


@pytest.mark.parametrize("api", APIS)
def test_a_refused_key_fails_at_once_with_a_clear_reason(fake: FakeModelService, api: str) -> None:
    fake.fail(401, echo_key=True)
    with pytest.raises(ServiceRefused) as caught:
        analyze(analyzer(fake, api))
    message = str(caught.value)
    assert isinstance(caught.value, Permanent)
    assert "API key was refused (HTTP 401)" in message
    assert f"DARKROOM_{api.upper()}_API_KEY" in message
    assert SECRET not in message
    assert len(fake.requests) == 1


def test_another_client_error_fails_at_once_with_the_service_message(
    fake: FakeModelService,
) -> None:
    fake.fail(400)
    with pytest.raises(ServiceRefused, match=r"HTTP 400\): fake failure 400"):
        analyze(analyzer(fake, "openai"))
    assert len(fake.requests) == 1


def test_an_echoed_key_is_scrubbed_from_the_service_message(fake: FakeModelService) -> None:
    fake.fail(422, echo_key=True)
    with pytest.raises(ServiceRefused) as caught:
        analyze(analyzer(fake, "openai"))
    assert "Incorrect API key provided: Bearer [redacted]" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("api", APIS)
def test_no_key_fails_before_any_request(
    fake: FakeModelService, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"DARKROOM_{api.upper()}_API_KEY")
    llm = LlmAnalyzer({"api": api})  # the public service: a key is required
    with pytest.raises(
        MissingKey, match=f"DARKROOM_{api.upper()}_API_KEY or {api.upper()}_API_KEY"
    ):
        analyze(llm)


def test_the_service_is_chosen_by_the_key_that_is_set(
    fake: FakeModelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DARKROOM_OPENAI_API_KEY")
    monkeypatch.setenv("DARKROOM_LLM_BASE_URL", fake.url)
    llm = LlmAnalyzer({})
    assert (llm.name, llm.model) == ("llm:anthropic", "claude-haiku-4-5")
    assert analyze(llm).result == SCENES["red"]
    assert fake.requests[0].headers["x-api-key"] == SECRET
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)  # the service's own variable works too
    assert LlmAnalyzer({}).name == "llm:openai"


def test_the_key_never_reaches_a_log_line_or_an_error(
    fake: FakeModelService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    errors: list[str] = []
    for api in APIS:
        # A timeout a busy machine still answers within, and a stall well past it.
        llm = analyzer(fake, api, timeout_seconds=0.8, max_retries=2)
        fake.fail(429, retry_after="0.05").stall(1.6).invalid()
        analyze(llm)
        for script in (
            lambda: fake.fail(401, echo_key=True),
            lambda: fake.fail(400, echo_key=True),
            lambda: fake.fail(500).fail(500).fail(500),
            lambda: fake.invalid().invalid().invalid(),
        ):
            script()
            with pytest.raises(Exception) as caught:  # every kind, on purpose
                analyze(llm)
            errors.append(f"{caught.value!r} {caught.value}")
            fake.script.clear()
    assert len(errors) == 8
    assert caplog.records, "the retries were logged"
    assert SECRET not in caplog.text
    # Extras too (problem, error...): the JSON log format writes them out.
    assert all(SECRET not in str(record.__dict__) for record in caplog.records)
    assert all(SECRET not in error for error in errors)
    assert SECRET not in repr(analyzer(fake, "openai").__dict__)


def test_retry_after_reads_seconds_milliseconds_and_http_dates() -> None:
    def response(**headers: str) -> httpx.Response:
        return httpx.Response(429, headers=headers)

    assert retry_after(response(**{"retry-after": "2"})) == 2.0
    assert retry_after(response(**{"retry-after-ms": "250"})) == 0.25
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < (retry_after(response(**{"retry-after": later})) or 0) <= 30
    assert retry_after(response()) is None
    assert retry_after(response(**{"retry-after": "soon"})) is None


def test_the_picture_sent_is_what_the_fake_sees(fake: FakeModelService) -> None:
    blue = images.jpeg_bytes(images.photo(200, 100, seed=2, tint=(10, 10, 250)))
    llm = analyzer(fake, "anthropic")
    answer = llm.analyze(blue, "image/jpeg", DEFAULT_PROMPT, DEFAULT_SCHEMA)
    assert answer.result["text_seen"] == ["NO SWIMMING"]
    assert fake.pictures == [("blue", (200, 100))]
    assert Image.open(io.BytesIO(blue)).size == (200, 100)
