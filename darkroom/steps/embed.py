"""embed: a vector for "looks like" search, from the recipe's embedding provider (offline
default: the colour and texture descriptor), stored in the vector index."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from darkroom import imaging
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class EmbedSettings(StepSettings):
    provider: str = Field(default="descriptor", description="descriptor, clip, ...")
    size: int = Field(default=256, ge=32, le=2048, description="long side the embedder sees")
    options: dict[str, Any] = Field(default_factory=dict)


def index_metadata(ctx: StepContext) -> dict[str, Any]:
    """What searches filter on: class, recipe, and the image's own metadata (client, sku...)."""
    meta: dict[str, Any] = {
        k: v for k, v in ctx.image.metadata.items() if isinstance(v, str | int | float | bool)
    }
    meta.update(recipe=ctx.image.recipe, class_name=ctx.image.class_name or "")
    return meta


def run(ctx: StepContext, settings: EmbedSettings) -> StepResult:
    embedder = ctx.ports.providers.embedder(settings.provider, settings.options)
    picture = pixels.fitted(ctx, settings.size)
    vector = embedder.embed_images([imaging.to_array(picture)])[0]
    ctx.ports.vectors.upsert(
        embedder.space, ctx.image.owner, ctx.image.id, vector, index_metadata(ctx)
    )
    return StepResult(
        output={
            "provider": embedder.name,
            "model": embedder.model,
            "version": embedder.version,
            "dim": embedder.dim,
            "space": embedder.space,
        }
    )


STEP = StepDefinition(
    name="embed",
    run=run,
    settings=EmbedSettings,
    event="ImageEmbedded",
    needs=("validate",),
    shadowable=True,
    description="embed the picture and store the vector for similar-image search",
)
