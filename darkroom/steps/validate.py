"""validate: real decoding, not the extension; limits checked before a pixel is allocated.
With `videos: true` (the media recipe), a video is probed instead: container, codec, frame size,
rate and duration within the limits, every packet read but only the first frame decoded."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from darkroom.domain.errors import Rejected
from darkroom.steps import media_files, pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class ValidateSettings(StepSettings):
    decode_size: int = Field(
        default=800,
        ge=64,
        description="validation decodes every byte at this size; later steps reuse the pixels",
    )
    videos: bool = Field(
        default=False, description="accept videos too (MP4/MOV, WebM), probed with PyAV"
    )


def _video(ctx: StepContext, size: int) -> StepResult | None:
    """The video's result, or None when the file is not a video (then it is judged as a picture)."""
    from darkroom.video import probe as video_probe  # PyAV loads only where videos are taken

    with media_files.local_original(ctx) as path:
        if not video_probe.looks_like_video(path):
            return None
        info = video_probe.probe(path, ctx.limits)
    output: dict[str, Any] = {"media": "video", **info.as_dict(), "bytes": size}
    updates = {
        "format": info.format,
        "width": info.width,
        "height": info.height,
        "content_type": info.content_type,
    }
    return StepResult(output=output, image=updates)


def _not_a_picture_or_video(ctx: StepContext, picture_reason: str) -> Rejected:
    """A file that is neither: the video prober names what its bytes claim (a cut MP4...)."""
    from darkroom.video import probe as video_probe

    with media_files.local_original(ctx) as path:
        try:
            video_probe.probe(path, ctx.limits)
        except Rejected as exc:
            return Rejected(f"{exc} (as a picture: {picture_reason})")
    return Rejected(picture_reason)


def run(ctx: StepContext, settings: ValidateSettings) -> StepResult:
    size = ctx.image.size_bytes
    if size == 0:
        raise Rejected("empty file: 0 bytes")
    if size > ctx.limits.max_bytes:
        raise Rejected(f"too large: {size:,} bytes is over the limit of {ctx.limits.max_bytes:,}")
    if settings.videos:
        video = _video(ctx, size)
        if video is not None:
            return video
        try:
            info = pixels.decoded(ctx, settings.decode_size).probe
        except Rejected as exc:
            if not str(exc).startswith("not an image"):
                raise
            raise _not_a_picture_or_video(ctx, str(exc)) from None
    else:
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
    if settings.videos:
        output["media"] = "image"
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
