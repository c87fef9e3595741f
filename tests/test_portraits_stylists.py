"""The portraits recipe's stylists: a model endpoint speaking the SageMaker contract over real
HTTP (tests/fake_portrait_endpoint.py answers real transformed pictures, and misbehaves on
cue), SageMaker InvokeEndpoint through moto's server, and the offline blend with the templates
darkroom draws and with a template folder the test makes from a real photograph."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from darkroom.domain.errors import Permanent, Rejected
from darkroom.domain.records import ImageStatus
from darkroom.providers.blend import BlendStylist
from darkroom.providers.http_calls import ServiceUnavailable
from darkroom.providers.model_endpoint import HttpEndpointStylist, SageMakerStylist
from darkroom.providers.portrait_templates import BUILTIN_STYLES
from darkroom.wiring import Runtime, build
from tests import faces
from tests.conftest import add_recipe, drain
from tests.fake_portrait_endpoint import MODEL_VERSION, FakeEndpoint, transformed


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeEndpoint]:
    fake = FakeEndpoint().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(endpoint: FakeEndpoint) -> FakeEndpoint:
    endpoint.reset()
    return endpoint


def face_crop() -> bytes:
    out = io.BytesIO()
    faces.astronaut().crop((130, 20, 316, 206)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def stylist(fake: FakeEndpoint, **options: Any) -> HttpEndpointStylist:
    return HttpEndpointStylist(
        {"url": fake.url, "backoff_seconds": 0.01, "timeout_seconds": 2, **options}
    )


def test_the_endpoint_answers_ping(fake: FakeEndpoint) -> None:
    assert httpx.get(f"{fake.url}/ping").status_code == 200


def test_a_portrait_from_the_endpoint_with_provenance(fake: FakeEndpoint) -> None:
    made = stylist(fake).stylise(face_crop(), "casual", "female")
    assert fake.requests[0]["style"] == "casual" and fake.requests[0]["gender"] == "female"
    sent = Image.open(io.BytesIO(base64.b64decode(fake.requests[0]["image"])))
    assert sent.format == "JPEG" and sent.size == (186, 186)
    assert made.media_type == "image/png" and made.model_version == MODEL_VERSION
    assert made.provider == f"endpoint:{fake.url}" and made.attempts == 1 and made.seconds > 0
    assert made.links == ({"title": "casual look", "url": "https://shop.test/a"},)
    picture = Image.open(io.BytesIO(made.image))
    assert picture.size == (320, 640)
    assert made.image == transformed(sent, "casual")  # what the model made, byte for byte


def test_throttling_is_retried_honouring_retry_after(fake: FakeEndpoint) -> None:
    fake.fail(429, retry_after="0")
    fake.fail(503)
    made = stylist(fake).stylise(face_crop(), "classic", None)
    assert made.attempts == 3 and len(fake.requests) == 3


def test_server_errors_past_the_retries_are_worth_retrying_later(fake: FakeEndpoint) -> None:
    for _ in range(3):
        fake.fail(500)
    with pytest.raises(ServiceUnavailable, match=r"HTTP 500.*after 3 attempts"):
        stylist(fake, max_retries=2).stylise(face_crop(), "classic", None)


def test_a_timeout_is_retried_then_reported(fake: FakeEndpoint) -> None:
    fake.stall(1.5)
    made = stylist(fake, timeout_seconds=0.5, max_retries=1).stylise(face_crop(), "casual", None)
    assert made.attempts == 2
    fake.stall(1.5)
    with pytest.raises(ServiceUnavailable, match=r"no answer within 0.5 s"):
        stylist(fake, timeout_seconds=0.5, max_retries=0).stylise(face_crop(), "casual", None)


def test_a_refused_request_fails_at_once_with_the_reason(fake: FakeEndpoint) -> None:
    fake.refuse(400, "style 'disco' is not supported by this model")
    with pytest.raises(Permanent, match=r"HTTP 400.*disco.*not supported"):
        stylist(fake).stylise(face_crop(), "disco", None)
    assert len(fake.requests) == 1  # never retried


def test_an_answer_that_is_no_picture_is_a_failure(fake: FakeEndpoint) -> None:
    fake.garbage()
    with pytest.raises(Permanent, match="not a picture"):
        stylist(fake).stylise(face_crop(), "casual", None)


def endpoint_recipe(runtime: Runtime, url: str) -> str:
    return add_recipe(
        runtime,
        "portraits-endpoint",
        f"""
name: portraits-endpoint
retry: {{max_attempts: 2, backoff_seconds: 0.01, backoff_max_seconds: 0.05}}
steps:
  - step: consent
  - step: validate
  - step: normalize
  - step: face
    with:
      provider: opencv
      options: {{cascades: {{face: haarcascade_frontalface_default.xml}}, scale_factor: 1.1,
                 min_neighbors: 5, min_size: 0.05}}
  - step: stylise
    with:
      provider: endpoint
      options: {{url: "{url}", backoff_seconds: 0.01, timeout_seconds: 5,
                 styles: [casual, classic]}}
      shopping:
        casual: [{{title: Denim jacket, url: "https://shop.test/denim"}}]
""",
    )


def run_one(runtime: Runtime, tmp: Path, recipe: str, style: str = "casual") -> Any:
    runtime.portraits.record_consent("default", "v-1", None, True, "test")  # type: ignore[union-attr]
    path = faces.save_jpeg(faces.astronaut(), tmp / f"{style}.jpg")
    accepted = runtime.intake.accept_path(
        path, "default", recipe, {"user_id": "v-1", "style": style}
    )
    drain(runtime)
    image = runtime.catalog.get_image(accepted.image.id)
    assert image is not None and image.job_id is not None
    return image, runtime.catalog.step_outputs(image.job_id)


def test_the_recipe_stores_the_endpoints_portrait(
    runtime: Runtime, fake: FakeEndpoint, tmp_path: Path
) -> None:
    image, outputs = run_one(runtime, tmp_path, endpoint_recipe(runtime, fake.url))
    assert image.status is ImageStatus.COMPLETED, image.error
    made = outputs["stylise"]
    assert made["result"] == f"portraits/default/{image.id}/portrait.png"
    assert made["model_version"] == MODEL_VERSION and made["provider"] == f"endpoint:{fake.url}"
    assert made["links"][0]["url"] == "https://shop.test/denim"  # the recipe's, then the model's
    assert made["links"][1]["url"] == "https://shop.test/a"
    stored = runtime.blobs.get(made["result"])
    sent = Image.open(io.BytesIO(base64.b64decode(fake.requests[0]["image"])))
    assert stored == transformed(sent, "casual")
    assert sent.size == tuple(outputs["face"]["crop_size"])  # the crop is what was sent


def test_a_refusal_fails_the_job_with_the_reason(
    runtime: Runtime, fake: FakeEndpoint, tmp_path: Path
) -> None:
    fake.refuse(422, "the face is too small for this model")
    image, _ = run_one(runtime, tmp_path, endpoint_recipe(runtime, fake.url))
    assert image.status is ImageStatus.FAILED
    assert "too small for this model" in (image.error or "")
    assert len(fake.requests) == 1  # dead-lettered at once, not retried


def test_an_unknown_style_is_refused_before_anything_is_stored(
    runtime: Runtime, fake: FakeEndpoint, tmp_path: Path
) -> None:
    from darkroom.engine.consent import InvalidPortraitRequest

    recipe = endpoint_recipe(runtime, fake.url)
    runtime.portraits.record_consent("default", "v-1", None, True, "test")  # type: ignore[union-attr]
    path = faces.save_jpeg(faces.astronaut(), tmp_path / "x.jpg")
    with pytest.raises(
        InvalidPortraitRequest, match="unknown style 'disco'; known styles: casual, classic"
    ):
        runtime.intake.accept_path(path, "default", recipe, {"user_id": "v-1", "style": "disco"})
    assert not (runtime.settings.home / "input").exists()


# SageMaker through moto ------------------------------------------------------------------


@pytest.mark.usefixtures("aws_credentials")
def test_sagemaker_invoke_endpoint_through_moto(moto_endpoint: str) -> None:
    """moto's SageMaker runtime answers what its API is told to; here a real picture in the
    contract's JSON, so the whole boto3 path (request, body stream, parsing) is exercised."""
    picture = transformed(faces.astronaut(), "evening")
    answer = {"image": base64.b64encode(picture).decode(), "model_version": "sm-7"}
    configured = httpx.post(
        f"{moto_endpoint}/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": "123456789012",
            "region": "us-east-1",
            "results": [{"Body": json.dumps(answer), "ContentType": "application/json"}],
        },
    )
    assert configured.status_code == 201, configured.text
    made = SageMakerStylist(
        {"endpoint_name": "kiosk-styles", "endpoint_url": moto_endpoint, "region": "us-east-1"}
    ).stylise(face_crop(), "evening", "male")
    assert made.provider == "sagemaker:kiosk-styles" and made.model_version == "sm-7"
    assert made.image == picture and made.media_type == "image/png"


# The offline blend -------------------------------------------------------------------------


def test_blend_with_the_builtin_templates() -> None:
    blend = BlendStylist({})
    assert blend.styles() == sorted(BUILTIN_STYLES)
    for style in BUILTIN_STYLES:
        made = blend.stylise(face_crop(), style, "female")
        result = np.asarray(Image.open(io.BytesIO(made.image)).convert("RGB"), dtype=np.float32)
        assert result.shape == (768, 512, 3)
        assert made.provider == "blend" and made.model_version == "builtin-templates"
        # Her face is now where the template's head was: far from its flat skin colour.
        head = result[110:220, 215:297]
        assert head.std() > 20
    with pytest.raises(Rejected, match="unknown style 'disco'; known styles: casual, classic"):
        blend.stylise(face_crop(), "disco", None)


def test_blend_into_a_template_folder(tmp_path: Path) -> None:
    """A template folder made from a real photograph: Grace Hopper as the 'formal' style. Her
    face region is found with the same detector; the astronaut's face replaces it, and the rest
    of the picture stays the template's."""
    folder = tmp_path / "templates"
    template = faces.grace_hopper()
    faces.save_jpeg(template, folder / "formal.jpg")
    blend = BlendStylist({"templates": str(folder)})
    assert blend.styles() == ["formal"]
    fx, fy, fw, fh = blend.templates[("formal", None)].face
    made = blend.stylise(face_crop(), "formal", None)
    result = np.asarray(Image.open(io.BytesIO(made.image)).convert("RGB"), dtype=np.float32)
    original = np.asarray(template, dtype=np.float32)
    assert result.shape == original.shape
    inside = np.abs(result - original)[
        fy + fh // 4 : fy + 3 * fh // 4, fx + fw // 4 : fx + 3 * fw // 4
    ]
    outside = np.abs(result - original)[fy + fh + 60 :, :]
    assert inside.mean() > 15, "the face region shows the visitor's face"
    assert outside.mean() < 4, "below the face, the template is untouched (JPEG noise only)"


def test_a_template_without_a_face_needs_its_region(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    faces.save_jpeg(faces.no_face(), folder / "cafe.jpg")
    with pytest.raises(ValueError, match=r"no face found in cafe.jpg"):
        BlendStylist({"templates": str(folder)})
    (folder / "cafe.json").write_text(json.dumps({"face": [100, 60, 120, 150]}))
    made = BlendStylist({"templates": str(folder)}).stylise(face_crop(), "cafe", None)
    assert Image.open(io.BytesIO(made.image)).size == faces.no_face().size


def test_the_builtin_recipe_uses_the_endpoint_the_settings_name(
    runtime: Runtime, fake: FakeEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One recipe everywhere: `auto` is the blend offline and the endpoint once one is set."""
    image, outputs = run_one(runtime, tmp_path, "portraits")
    assert image.status is ImageStatus.COMPLETED and outputs["stylise"]["provider"] == "blend"
    monkeypatch.setenv("DARKROOM_PORTRAITS_ENDPOINT_URL", fake.url)
    configured = build(runtime.settings)  # providers are built once per process: a new one
    try:
        image, outputs = run_one(configured, tmp_path / "again", "portraits", style="evening")
    finally:
        configured.close()
    assert image.status is ImageStatus.COMPLETED, image.error
    assert outputs["stylise"]["provider"] == f"endpoint:{fake.url}"
    assert fake.requests and fake.requests[-1]["style"] == "evening"
