"""product: which client and product a media item belongs to. The client is the owner; the sku is
what the upload named (metadata `sku`), else the folder after `products/` in the path it came
from (a bucket key or an ingested file), else, for an ingested file, the folder it is in."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote

from pydantic import Field

from darkroom.domain.errors import Rejected
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings
from darkroom.steps.media_files import is_video, media_folder, safe_segment


class ProductSettings(StepSettings):
    sku_from_folder: bool = Field(
        default=True, description="an ingested file outside products/{sku}/ takes its folder's name"
    )


def sku_of(ctx: StepContext, settings: ProductSettings) -> tuple[str, str]:
    """The sku and where it was found."""
    named = ctx.image.metadata.get("sku")
    if isinstance(named, str | int) and str(named).strip():
        return str(named), "metadata"
    source = ctx.image.source or ""
    parts = PurePosixPath(unquote(source).replace("\\", "/")).parts
    for index, part in enumerate(parts[:-1]):
        if part == "products" and index + 1 < len(parts) - 1:
            return parts[index + 1], "path"
    if settings.sku_from_folder and source.startswith("/") and len(parts) >= 2:
        return parts[-2], "folder"
    raise Rejected(
        'no product: upload with metadata {"sku": ...}, or put the file under products/{sku}/'
    )


def run(ctx: StepContext, settings: ProductSettings) -> StepResult:
    sku, found_in = sku_of(ctx, settings)
    if not safe_segment(sku):
        raise Rejected(f"sku {sku!r} has no letter or digit to file it under")
    media = "video" if is_video(ctx) else "image"
    metadata = {**ctx.image.metadata, "client": ctx.image.owner, "sku": sku, "media": media}
    folder = media_folder(ctx.image.owner, sku)
    return StepResult(
        output={
            "client": ctx.image.owner,
            "sku": sku,
            "sku_from": found_in,
            "media": media,
            "folder": folder,
        },
        image={"metadata": metadata},
    )


STEP = StepDefinition(
    name="product",
    run=run,
    settings=ProductSettings,
    event="MediaCatalogued",
    needs=("validate",),
    description="the client (the owner), the product's sku and the kind of media (image, video)",
)
