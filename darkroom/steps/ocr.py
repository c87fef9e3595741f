"""ocr: the text in the picture (lines with boxes and confidence), read offline, for full text.

The reader sees the picture decoded at up to `size` on its long side (text in a screenshot is
small: the 800 px thumbnail loses it). Its words go into the output's `text`, which the `index`
step adds to what the image is found by.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from darkroom import imaging
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class OcrSettings(StepSettings):
    provider: str = Field(default="rapidocr", description="text reader (OCR) provider")
    size: int = Field(
        default=2000, ge=64, le=8192, description="long side the reader sees; text needs pixels"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="the provider's options")


def run(ctx: StepContext, settings: OcrSettings) -> StepResult:
    reader = ctx.ports.providers.reader(settings.provider, settings.options)
    lines = reader.read(imaging.to_array(pixels.fitted(ctx, settings.size)))
    return StepResult(
        output={
            "provider": reader.name,
            "text": "\n".join(line.text for line in lines),
            "lines": [
                {
                    "text": line.text,
                    "confidence": round(line.confidence, 2),
                    "box": [round(v, 4) for v in line.box],
                }
                for line in lines
            ],
        }
    )


STEP = StepDefinition(
    name="ocr",
    run=run,
    settings=OcrSettings,
    event="TextRead",
    needs=("validate",),
    shadowable=True,
    description="the text in the picture (lines, boxes, confidence), offline, for full text",
)
