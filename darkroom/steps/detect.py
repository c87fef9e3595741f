"""detect: what the picture shows, from the recipe's detector (default: bundled MobileNetV2)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from darkroom import imaging
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class DetectSettings(StepSettings):
    provider: str = Field(
        default="mobilenet", description="detector: mobilenet, onnx, clip, rekognition, ..."
    )
    size: int = Field(
        default=400, ge=64, le=4096, description="long side the detector sees; smaller is faster"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="provider settings")


def run(ctx: StepContext, settings: DetectSettings) -> StepResult:
    detector = ctx.ports.providers.detector(settings.provider, settings.options)
    picture = pixels.fitted(ctx, settings.size)
    labels = detector.detect(imaging.to_array(picture))
    labels = sorted(labels, key=lambda label: label.confidence, reverse=True)
    return StepResult(
        output={"provider": detector.name, "labels": [label.to_json() for label in labels]},
        image={"labels": labels},
    )


STEP = StepDefinition(
    name="detect",
    run=run,
    settings=DetectSettings,
    event="LabelsDetected",
    needs=("validate",),
    shadowable=True,
    description="labels with confidence (percent) and boxes from a detector provider",
)
