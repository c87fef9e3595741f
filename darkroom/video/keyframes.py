"""Keyframes in one streamed pass: one per shot (PySceneDetect's content detector on a small
copy of each sampled frame), at least one every N seconds, capped; the poster is the first frame
that is not black. Frames are decoded one at a time and dropped, so memory stays bounded, and
the pass stops at its time budget instead of holding a worker for ever."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import av.error
import numpy as np
from PIL import Image
from scenedetect.common import FrameTimecode, Timecode
from scenedetect.detectors import ContentDetector

from darkroom.domain.errors import Permanent, Rejected

# The detector sees frames this wide: cuts do not need detail, and a small frame costs little.
_DETECT_WIDTH = 160
# A frame whose mean luma is below this (of 255), nearly uniform, is black (fades, leaders).
_BLACK_MEAN = 18.0
_BLACK_SPREAD = 10.0


@dataclass(frozen=True)
class Keyframe:
    ms: int
    picture: Image.Image  # RGB, at most `size` on its long side
    reason: str  # "poster", "shot" or "interval"
    shot: int  # shots counted from 0


@dataclass(frozen=True)
class Options:
    every_ms: int = 2000  # at least one keyframe this often within a shot
    max_keyframes: int = 60
    size: int = 512  # long side of each keyframe
    threshold: float = 27.0  # PySceneDetect's ContentDetector default
    min_shot_ms: int = 500
    detect_fps: float = 12.0  # frames per second the cut detector samples
    budget_seconds: float = 240.0


def is_black(small_rgb: np.ndarray) -> bool:
    luma = small_rgb.mean(axis=2)
    return float(luma.mean()) < _BLACK_MEAN and float(luma.std()) < _BLACK_SPREAD


def _fitted(frame: av.VideoFrame, box: int) -> Image.Image:
    scale = min(1.0, box / max(frame.width, frame.height))
    width = max(2, round(frame.width * scale))
    height = max(2, round(frame.height * scale))
    rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    return Image.fromarray(rgb)


def extract(path: str, options: Options, duration_ms: int) -> Iterator[Keyframe]:
    """Keyframes in time order. Rejected when the video turns out corrupt while decoding,
    Permanent when it takes longer than the budget (retrying would take as long again)."""
    started = time.monotonic()
    # A long video spreads its keyframes out so the cap still covers all of it.
    every_ms = max(options.every_ms, duration_ms // max(1, options.max_keyframes))
    detector = ContentDetector(
        threshold=options.threshold, min_scene_len=options.min_shot_ms / 1000
    )
    taken = 0
    shot = 0
    last_ms: int | None = None
    next_sample = 0.0
    wanted: str | None = "poster"  # the reason the next good frame will be kept for
    with av.open(path, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = stream.average_rate or stream.guessed_rate or 25
        try:
            for frame in container.decode(stream):
                if time.monotonic() - started > options.budget_seconds:
                    raise Permanent(
                        f"over the video budget of {options.budget_seconds:g} s at "
                        f"{(frame.time or 0):.1f} s of {duration_ms / 1000:.1f} s"
                    )
                if frame.time is None or frame.pts is None:
                    continue
                ms = round(frame.time * 1000)
                due = last_ms is not None and ms - last_ms >= every_ms
                if frame.time + 1e-9 < next_sample and wanted is None and not due:
                    continue  # between the detector's samples, and nothing to keep
                next_sample = frame.time + 1.0 / options.detect_fps
                height = max(2, round(_DETECT_WIDTH * frame.height / max(1, frame.width)))
                small = frame.reformat(width=_DETECT_WIDTH, height=height, format="bgr24")
                small_array = small.to_ndarray()
                timecode = FrameTimecode(
                    Timecode(pts=frame.pts, time_base=frame.time_base), fps=fps
                )
                if detector.process_frame(timecode, small_array) and last_ms is not None:
                    shot += 1
                    wanted = "shot"
                if wanted is None and last_ms is not None and ms - last_ms >= every_ms:
                    wanted = "interval"
                if wanted is None or is_black(small_array[:, :, ::-1]):
                    continue
                yield Keyframe(ms, _fitted(frame, options.size), wanted, shot)
                taken += 1
                last_ms, wanted = ms, None
                if taken >= options.max_keyframes:
                    return
        except av.error.FFmpegError as exc:
            at = f" at {last_ms / 1000:.1f} s" if last_ms is not None else ""
            raise Rejected(f"corrupt video: decoding failed{at} ({exc.strerror})") from None
    if taken == 0:
        raise Rejected("no usable frame: every frame of the video is black")


def poster_frame(path: str, box: int, at_ms: int | None = None) -> Image.Image:
    """The poster again (after a resume): the first non-black frame from `at_ms`, or the start."""
    with av.open(path, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        if at_ms and stream.time_base:
            container.seek(int(at_ms / 1000 / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            if frame.time is not None and at_ms and frame.time * 1000 + 1 < at_ms:
                continue
            small = frame.reformat(
                width=_DETECT_WIDTH,
                height=max(2, round(_DETECT_WIDTH * frame.height / frame.width)),
                format="rgb24",
            )
            if not is_black(small.to_ndarray()):
                return _fitted(frame, box)
    raise Rejected("no usable frame: every frame of the video is black")


def describe(keyframe: Keyframe) -> dict[str, Any]:
    return {"ms": keyframe.ms, "reason": keyframe.reason, "shot": keyframe.shot}
