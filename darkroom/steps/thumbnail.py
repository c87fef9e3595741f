"""thumbnail: JPEG derivatives bounded to each size, without the original's metadata."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from darkroom import imaging
from darkroom.steps import media_files, pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class ThumbnailSettings(StepSettings):
    sizes: list[int] = Field(default=[800], min_length=1, description="long sides, largest first")
    quality: int = Field(default=85, ge=1, le=100)
    layout: Literal["thumbnails", "media"] = Field(
        default="thumbnails",
        description="thumbnails/{owner}/{id}/, or beside the product's media (the media recipe)",
    )

    @field_validator("sizes")
    @classmethod
    def _positive(cls, sizes: list[int]) -> list[int]:
        if any(size < 16 or size > 8192 for size in sizes):
            raise ValueError("each size must be between 16 and 8192 pixels")
        return sorted(set(sizes), reverse=True)


def thumbnail_key(owner: str, image_id: str, size: int) -> str:
    return f"thumbnails/{owner}/{image_id}/{size}.jpg"


def run(ctx: StepContext, settings: ThumbnailSettings) -> StepResult:
    keys: dict[str, str] = {}
    for size in settings.sizes:
        picture = pixels.fitted(ctx, size)
        if settings.layout == "media":
            key = f"{media_files.derivatives_prefix(ctx)}{size}.jpg"
        else:
            key = thumbnail_key(ctx.image.owner, ctx.image.id, size)
        ctx.ports.blobs.put(
            key, imaging.encode_jpeg(picture, settings.quality), content_type="image/jpeg"
        )
        keys[str(size)] = key
    main = keys[str(settings.sizes[0])]
    return StepResult(output={"thumbnails": keys, "thumbnail": main}, image={"thumbnail": main})


STEP = StepDefinition(
    name="thumbnail",
    run=run,
    settings=ThumbnailSettings,
    event="ThumbnailCreated",
    needs=("validate",),
    description="JPEG thumbnails bounded to each size (800x800 by default)",
)
