"""embed: a vector for "looks like" search, from the recipe's embedding provider (offline
default: the colour and texture descriptor), stored in the vector index. With `from: analysis`,
a text embedder embeds what the picture's latest analysis says instead (search by meaning)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from darkroom import imaging
from darkroom.domain.analysis import describe
from darkroom.domain.errors import Permanent
from darkroom.ports import Embedder
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class EmbedSettings(StepSettings):
    provider: str = Field(default="descriptor", description="descriptor, clip, ...")
    size: int = Field(default=256, ge=32, le=2048, description="long side the embedder sees")
    options: dict[str, Any] = Field(default_factory=dict)
    source: Literal["picture", "analysis"] = Field(
        default="picture",
        alias="from",
        description="embed the picture, or the text of its latest analysis (text embedders)",
    )


def index_metadata(ctx: StepContext) -> dict[str, Any]:
    """What searches filter on: class, recipe, and the image's own metadata (client, sku...)."""
    meta: dict[str, Any] = {
        k: v for k, v in ctx.image.metadata.items() if isinstance(v, str | int | float | bool)
    }
    meta.update(recipe=ctx.image.recipe, class_name=ctx.image.class_name or "")
    return meta


def analysis_vector(ctx: StepContext, embedder: Embedder) -> tuple[Any, int]:
    """The vector of what the latest analysis says, and that analysis's version."""
    analysis = ctx.ports.catalog.latest_analysis(ctx.image.id)
    if analysis is None:
        raise Permanent("embed from analysis: the image has no analysis; analyze it first")
    text = describe(analysis.result)
    # Services that embed stored text apart from queries (Voyage's input_type) say so.
    documents = getattr(embedder, "embed_documents", None)
    vectors = documents([text]) if documents is not None else embedder.embed_texts([text])
    if vectors is None:
        raise Permanent(f"embedder {embedder.name!r} reads no text; it cannot embed an analysis")
    return vectors[0], analysis.version


def run(ctx: StepContext, settings: EmbedSettings) -> StepResult:
    embedder = ctx.ports.providers.embedder(settings.provider, settings.options)
    made_from: dict[str, Any] = {}
    if settings.source == "analysis":
        vector, version = analysis_vector(ctx, embedder)
        made_from = {"from": "analysis", "analysis_version": version}
    else:
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
            **made_from,
        }
    )


STEP = StepDefinition(
    name="embed",
    run=run,
    settings=EmbedSettings,
    event="ImageEmbedded",
    needs=("validate",),
    reads=("classify", "analyze"),  # the class filter; `from: analysis`
    shadowable=True,
    description="embed the picture and store the vector for similar-image search",
)
