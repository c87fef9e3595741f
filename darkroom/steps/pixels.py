"""The decoded picture shared by the steps of one run, rebuilt from the original after a resume."""

from __future__ import annotations

from PIL import Image

from darkroom import imaging
from darkroom.steps import media_files
from darkroom.steps.base import StepContext

_KEY = "decoded"


def original_source(ctx: StepContext) -> str | bytes:
    """The original as a path when the store has one (no copy in memory), else its bytes."""
    key = ctx.image.location
    path = ctx.ports.blobs.local_path(key)
    return path if path is not None else ctx.ports.blobs.get(key)


def decoded(ctx: StepContext, box: int) -> imaging.Decoded:
    """An upright sRGB picture at least `box` on its long side (or the whole original if smaller),
    decoded at most once per run for the largest box asked."""
    cached: tuple[int, imaging.Decoded] | None = ctx.scratch.get(_KEY)
    if cached is not None:
        cached_box, result = cached
        full = max(result.probe.width, result.probe.height)
        if cached_box >= box or max(result.image.size) >= min(box, full):
            return result
    if media_files.is_video(ctx):
        result = _poster(ctx, box)
    else:
        result = imaging.decode(original_source(ctx), ctx.limits, box)
    ctx.scratch[_KEY] = (box, result)
    return result


def _poster(ctx: StepContext, box: int) -> imaging.Decoded:
    """A video's picture is its poster (the first frame that is not black), so the picture steps
    (thumbnail, hash, embed) handle a video as they handle a photo."""
    from darkroom.video.keyframes import poster_frame

    at_ms = ctx.output_of("keyframes").get("poster_ms")
    with media_files.local_original(ctx) as path:
        picture = poster_frame(path, box, at_ms)
    width, height = ctx.image.width or picture.width, ctx.image.height or picture.height
    probe = imaging.Probe("JPEG", width, height, "RGB", 1, 1)  # the poster, as a still
    return imaging.Decoded(picture, probe, ["video poster"])


def fitted(ctx: StepContext, box: int) -> Image.Image:
    """The picture scaled to fit in box x box, from the shared decode. The size is computed
    from the original's, so rounding never drifts across successive reductions."""
    result = decoded(ctx, box)
    target = imaging.fit(result.probe.width, result.probe.height, box)
    if result.image.size == target:
        return result.image
    return result.image.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
