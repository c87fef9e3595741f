"""standardise: the picture a catalogue shows and hands on, made one way for every upload.

Upright (EXIF orientation applied), 8-bit sRGB, alpha flattened on white, the long side at most
`size` (aspect kept, never upscaled), JPEG at `quality`, no metadata. It is stored beside the
original's derivatives (`standardised/<owner>/<id>/<size>.jpg`), and its URL is the `file_path`
later steps and events name; its width and height are the standardised ones.
"""

from __future__ import annotations

from pydantic import Field

from darkroom import imaging
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class StandardiseSettings(StepSettings):
    size: int = Field(default=1024, ge=64, le=8192, description="longest side at most")
    quality: int = Field(default=88, ge=30, le=100, description="JPEG quality")


def standard_key(owner: str, image_id: str, size: int) -> str:
    return f"standardised/{owner}/{image_id}/{size}.jpg"


def run(ctx: StepContext, settings: StandardiseSettings) -> StepResult:
    picture = pixels.fitted(ctx, settings.size)
    data = imaging.encode_jpeg(picture.convert("RGB"), settings.quality)
    key = standard_key(ctx.image.owner, ctx.image.id, settings.size)
    ctx.ports.blobs.put(key, data, content_type="image/jpeg")  # the same bytes on a repeat
    width, height = picture.size
    return StepResult(
        output={
            "key": key,
            "file_path": ctx.ports.blobs.url(key),
            "width": width,
            "height": height,
            "bytes": len(data),
            "quality": settings.quality,
        }
    )


STEP = StepDefinition(
    name="standardise",
    run=run,
    settings=StandardiseSettings,
    event="ImageStandardised",
    needs=("validate",),
    description="store an upright sRGB JPEG, long side at most 1024, no metadata (file_path)",
)
