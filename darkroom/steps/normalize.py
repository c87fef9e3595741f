"""normalize: upright, 8-bit sRGB, first frame; the working pixels every later step uses."""

from __future__ import annotations

from pydantic import Field

from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class NormalizeSettings(StepSettings):
    working_size: int = Field(
        default=800, ge=64, description="long side of the working picture derivatives come from"
    )


def run(ctx: StepContext, settings: NormalizeSettings) -> StepResult:
    result = pixels.decoded(ctx, settings.working_size)
    width, height = result.image.size
    return StepResult(
        output={
            "conversions": result.conversions,
            "working_width": width,
            "working_height": height,
            "source_mode": result.probe.mode,
        }
    )


STEP = StepDefinition(
    name="normalize",
    run=run,
    settings=NormalizeSettings,
    event="ImageNormalized",
    needs=("validate",),
    description="apply EXIF orientation; CMYK, 16-bit, palette, alpha to 8-bit sRGB; first frame",
)
