"""The decoded picture shared by the steps of one run, rebuilt from the original after a resume."""

from __future__ import annotations

from PIL import Image

from darkroom import imaging
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
    result = imaging.decode(original_source(ctx), ctx.limits, box)
    ctx.scratch[_KEY] = (box, result)
    return result


def fitted(ctx: StepContext, box: int) -> Image.Image:
    """The picture scaled to fit in box x box, from the shared decode. The size is computed
    from the original's, so rounding never drifts across successive reductions."""
    result = decoded(ctx, box)
    target = imaging.fit(result.probe.width, result.probe.height, box)
    if result.image.size == target:
        return result.image
    return result.image.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
