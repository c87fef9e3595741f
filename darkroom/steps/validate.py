"""validate: real decoding, not the extension; limits checked before a pixel is allocated."""

from __future__ import annotations

from pydantic import Field

from darkroom.domain.errors import Rejected
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class ValidateSettings(StepSettings):
    decode_size: int = Field(
        default=800,
        ge=64,
        description="validation decodes every byte at this size; later steps reuse the pixels",
    )


def run(ctx: StepContext, settings: ValidateSettings) -> StepResult:
    size = ctx.image.size_bytes
    if size == 0:
        raise Rejected("empty file: 0 bytes")
    if size > ctx.limits.max_bytes:
        raise Rejected(f"too large: {size:,} bytes is over the limit of {ctx.limits.max_bytes:,}")
    info = pixels.decoded(ctx, settings.decode_size).probe
    output = {
        "format": info.format,
        "width": info.width,
        "height": info.height,
        "mode": info.mode,
        "frames": info.frames,
        "orientation": info.orientation,
        "bytes": size,
    }
    updates = {
        "format": info.format,
        "width": info.width,
        "height": info.height,
        "content_type": info.content_type,
    }
    return StepResult(output=output, image=updates)


STEP = StepDefinition(
    name="validate",
    run=run,
    settings=ValidateSettings,
    event="ImageValidated",
    description="decode every byte; reject what is not an accepted image within the limits",
)
