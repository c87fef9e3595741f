"""Retention: selfies and crops go after 7 days, portraits after 30 (settings), by the same
sweep the workers' housekeeping runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from darkroom.domain.records import ImageStatus
from darkroom.engine.retention import DAY, expire_portraits
from darkroom.settings import PortraitSettings
from darkroom.wiring import Runtime
from tests import faces
from tests.conftest import drain


def test_selfies_then_portraits_expire(runtime: Runtime, tmp_path: Path) -> None:
    store = runtime.portraits
    assert store is not None
    store.record_consent("default", "v-9", None, True, "test")
    path = faces.save_jpeg(faces.astronaut(), tmp_path / "a.jpg")
    image_id = runtime.intake.accept_path(
        path, "default", "portraits", {"user_id": "v-9", "style": "classic"}
    ).image.id
    drain(runtime)
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED and image.job_id
    outputs = runtime.catalog.step_outputs(image.job_id)
    selfie, crop, result = image.location, outputs["face"]["crop"], outputs["stylise"]["result"]
    assert all(runtime.blobs.exists(key) for key in (selfie, crop, result))

    def sweep(days: float) -> tuple[int, int, int]:
        policy = PortraitSettings()
        gone = expire_portraits(
            store,
            runtime.catalog,
            runtime.blobs,
            runtime.outbox,
            policy,
            (runtime.vectors, runtime.text),
            runtime.detections,
            now=time.time() + days * DAY,
        )
        return gone.selfies, gone.crops, gone.results

    assert sweep(6.9) == (0, 0, 0)
    assert sweep(7.1) == (1, 1, 0)
    assert not runtime.blobs.exists(selfie) and not runtime.blobs.exists(crop)
    assert runtime.blobs.exists(result)  # the portrait is still shown
    latest = store.latest_completed("default", "v-9")
    assert latest is not None and latest.request.image_id == image_id
    assert sweep(8) == (0, 0, 0)  # done once
    assert sweep(30.1) == (0, 0, 1)
    assert runtime.catalog.get_image(image_id) is None and not runtime.blobs.exists(result)
    assert store.portraits("default", "v-9") == []


def test_retention_periods_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DARKROOM_PORTRAITS_SELFIE_RETENTION_DAYS", "1")
    monkeypatch.setenv("DARKROOM_PORTRAITS_RESULT_RETENTION_DAYS", "2")
    policy = PortraitSettings()
    assert (policy.selfie_retention_days, policy.result_retention_days) == (1, 2)
    assert (
        PortraitSettings.model_fields["selfie_retention_days"].default,
        PortraitSettings.model_fields["result_retention_days"].default,
    ) == (7, 30)
