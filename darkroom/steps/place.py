"""place: file the original in the media library's layout,
clients/{client}/products/{sku}/media/{image|video}/{id}{ext}. Safe to repeat: a retry finds
the move done."""

from __future__ import annotations

from darkroom.imaging import EXTENSIONS
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings
from darkroom.steps.media_files import is_video, media_folder
from darkroom.steps.organize import move_original


class PlaceSettings(StepSettings):
    pass


def destination(ctx: StepContext) -> str:
    product = ctx.output_of("product")
    sku = str(product.get("sku") or ctx.image.metadata.get("sku"))
    if is_video(ctx):
        from darkroom.video.probe import EXTENSIONS as VIDEO_EXTENSIONS

        kind, extension = "video", VIDEO_EXTENSIONS.get(ctx.image.format or "", ".bin")
    else:
        kind, extension = "image", EXTENSIONS.get(ctx.image.format or "", ".bin")
    return f"{media_folder(ctx.image.owner, sku)}/{kind}/{ctx.image.id}{extension}"


def run(ctx: StepContext, settings: PlaceSettings) -> StepResult:
    return move_original(ctx, destination(ctx))


STEP = StepDefinition(
    name="place",
    run=run,
    settings=PlaceSettings,
    event="MediaPlaced",
    needs=("product",),
    description="move the original to clients/{client}/products/{sku}/media/{image|video}/",
    checkpoint=True,
)
