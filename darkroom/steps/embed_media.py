"""embed_media: a media item's vectors for search by photo, from the recipe's embedder. A picture
is one vector; a video is one per keyframe, each naming the video (`media_id`) and its moment
(`frame_ms`), so a shopper's photo finds the video and when the product appears."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from darkroom import imaging
from darkroom.domain.ids import stable_id
from darkroom.steps import embed, media_files
from darkroom.steps.base import StepContext, StepDefinition, StepResult
from darkroom.steps.embed import EmbedSettings, index_metadata

_BATCH = 16  # keyframes embedded per call: a few MB of pixels at a time


def keyframe_vector_id(image_id: str, ms: int) -> str:
    return stable_id(image_id, "keyframe", str(ms))


def _picture(ctx: StepContext, key: str, size: int) -> Any:
    with Image.open(io.BytesIO(ctx.ports.blobs.get(key))) as stored:
        picture = stored.convert("RGB")
    picture.thumbnail((size, size), Image.Resampling.BICUBIC)
    return imaging.to_array(picture)


def run(ctx: StepContext, settings: EmbedSettings) -> StepResult:
    if not media_files.is_video(ctx):
        result = embed.run(ctx, settings)
        return StepResult(output={**result.output, "vectors": 1})
    embedder = ctx.ports.providers.embedder(settings.provider, settings.options)
    frames: list[dict[str, Any]] = ctx.output_of("keyframes").get("keyframes") or []
    base = index_metadata(ctx)
    for start in range(0, len(frames), _BATCH):
        batch = frames[start : start + _BATCH]
        vectors = embedder.embed_images([_picture(ctx, f["key"], settings.size) for f in batch])
        for frame, vector in zip(batch, vectors, strict=True):
            meta = {**base, "frame_ms": frame["ms"], "frame_key": frame["key"]}
            if frame is frames[0]:  # the poster is the video's own vector ("more like this")
                vector_id = ctx.image.id
            else:
                vector_id = keyframe_vector_id(ctx.image.id, frame["ms"])
                meta["media_id"] = ctx.image.id
            ctx.ports.vectors.upsert(embedder.space, ctx.image.owner, vector_id, vector, meta)
    return StepResult(
        output={
            "provider": embedder.name,
            "model": embedder.model,
            "version": embedder.version,
            "dim": embedder.dim,
            "space": embedder.space,
            "vectors": len(frames),
        }
    )


STEP = StepDefinition(
    name="embed_media",
    run=run,
    settings=EmbedSettings,
    event="ImageEmbedded",
    needs=("keyframes",),
    reads=("product",),
    shadowable=True,
    description="embed a picture, or every keyframe of a video, for search by photo",
)
