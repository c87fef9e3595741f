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
    also: list[str] = Field(
        default_factory=list,
        description="more detectors on the same picture, their labels added (blazeface: faces)",
    )


def run(ctx: StepContext, settings: DetectSettings) -> StepResult:
    detectors = [ctx.ports.providers.detector(settings.provider, settings.options)]
    detectors += [ctx.ports.providers.detector(name, {}) for name in settings.also]
    array = imaging.to_array(pixels.fitted(ctx, settings.size))
    labels = [label for detector in detectors for label in detector.detect(array)]
    labels = sorted(labels, key=lambda label: label.confidence, reverse=True)
    provider = "+".join(detector.name for detector in detectors)
    return StepResult(
        output={"provider": provider, "labels": [label.to_json() for label in labels]},
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
