"""keyframes: a video's keyframes, one per shot plus at least one every N seconds, capped; each a
JPEG with its time in ms, and the poster (the first frame that is not black). Images pass."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from darkroom import imaging
from darkroom.steps import media_files
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class KeyframesSettings(StepSettings):
    every_seconds: float = Field(
        default=2.0, gt=0, le=600, description="at least one keyframe this often within a shot"
    )
    max_keyframes: int = Field(default=60, ge=1, le=1000, description="per video")
    size: int = Field(default=512, ge=64, le=2048, description="long side of each keyframe JPEG")
    quality: int = Field(default=85, ge=1, le=100)
    threshold: float = Field(
        default=27.0, gt=0, description="PySceneDetect ContentDetector: a cut above this change"
    )
    min_shot_seconds: float = Field(default=0.5, ge=0, description="shortest shot counted")
    detect_fps: float = Field(
        default=12.0, gt=0, le=120, description="frames a second the cut detector looks at"
    )


def keyframe_key(prefix: str, ms: int) -> str:
    return f"{prefix}keyframes/{ms:09d}.jpg"


def run(ctx: StepContext, settings: KeyframesSettings) -> StepResult:
    if not media_files.is_video(ctx):
        return StepResult(output={"media": "image", "keyframes": []})
    from darkroom.video.keyframes import Options, describe, extract

    options = Options(
        every_ms=round(settings.every_seconds * 1000),
        max_keyframes=settings.max_keyframes,
        size=settings.size,
        threshold=settings.threshold,
        min_shot_ms=round(settings.min_shot_seconds * 1000),
        detect_fps=settings.detect_fps,
        budget_seconds=ctx.limits.video_budget_seconds,
    )
    duration_ms = int(ctx.output_of("validate").get("duration_ms") or 0)
    prefix = media_files.derivatives_prefix(ctx)
    frames: list[dict[str, Any]] = []
    with media_files.local_original(ctx) as path:
        for keyframe in extract(path, options, duration_ms):  # one at a time: memory stays flat
            key = keyframe_key(prefix, keyframe.ms)
            data = imaging.encode_jpeg(keyframe.picture, settings.quality)
            ctx.ports.blobs.put(key, data, content_type="image/jpeg")
            frames.append({**describe(keyframe), "key": key})
    poster = frames[0]
    return StepResult(
        output={
            "media": "video",
            "keyframes": frames,
            "poster_ms": poster["ms"],
            "poster": poster["key"],
            "shots": max(frame["shot"] for frame in frames) + 1,
            "capped": len(frames) >= settings.max_keyframes,
        },
        image={"thumbnail": poster["key"]},
    )


STEP = StepDefinition(
    name="keyframes",
    run=run,
    settings=KeyframesSettings,
    event="KeyframesExtracted",
    needs=("product",),
    description="videos: a JPEG keyframe per shot and every N seconds (capped), and a poster",
)
