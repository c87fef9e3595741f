"""Test parts for the UI's browser tests, loaded by import path inside the server's workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from darkroom.domain.records import Label
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings
from tests.plugins import ColourDetector


class BoxedColourDetector(ColourDetector):
    """The colour detector, with a box around the picture's brightest quarter: a real box the
    image page must draw where the pixels are."""

    name = "test-boxed-colour"

    def detect(self, pixels: Any) -> list[Label]:
        labels = ColourDetector.detect(self, pixels)
        array = np.asarray(pixels, dtype=np.float64)
        width = array.shape[1]
        left = 0.0 if array[:, : width // 2].mean() >= array[:, width // 2 :].mean() else 0.5
        return [
            Label(label.name, label.confidence, box=(left, 0.25, 0.5, 0.5), provider=self.name)
            for label in labels
        ]


def boxed_colour_detector(options: dict[str, Any]) -> BoxedColourDetector:
    return BoxedColourDetector(options)


class FlagSettings(StepSettings):
    flag: str  # a file: while it exists, the step fails


def _fails_while_flagged(ctx: StepContext, settings: FlagSettings) -> StepResult:
    if Path(settings.flag).exists():
        raise RuntimeError(f"the flag {settings.flag} is up")
    return StepResult(output={"flag": "down"})


FLAGGED = StepDefinition(
    name="flagged", run=_fails_while_flagged, settings=FlagSettings, event="FlagChecked"
)
