"""Real video files made with PyAV for the tests: known shots at known times, with motion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class Shot:
    seconds: float
    colour: tuple[int, int, int]  # background
    stripes: int = 0  # vertical stripes: texture the descriptor tells apart
    black: bool = False  # an all-black shot (a fade-in), never a poster


# Three shots that differ in colour and texture; a cut at 2 s and at 4 s.
THREE_SHOTS = (
    Shot(2.0, (200, 40, 40), stripes=0),
    Shot(2.0, (30, 160, 60), stripes=8),
    Shot(2.0, (40, 60, 210), stripes=24),
)


def frame_at(shot: Shot, index: int, width: int, height: int) -> np.ndarray:
    """One frame of a shot: its background, stripes, and a white square moving left to right."""
    if shot.black:
        return np.zeros((height, width, 3), dtype=np.uint8)
    picture = np.empty((height, width, 3), dtype=np.uint8)
    picture[:] = shot.colour
    if shot.stripes:
        band = max(1, width // (2 * shot.stripes))
        columns = (np.arange(width) // band) % 2 == 1
        picture[:, columns] = np.clip(np.asarray(shot.colour) * 0.45, 0, 255).astype(np.uint8)
    side = height // 5
    x = (index * 4) % max(1, width - side)
    y = height // 2 - side // 2
    picture[y : y + side, x : x + side] = 255
    return picture


def make(
    path: Path,
    shots: Sequence[Shot] = THREE_SHOTS,
    *,
    codec: str = "libx264",
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    audio: bool = False,
    faststart: bool = False,
) -> Path:
    """Encode the shots into `path` (the container from its suffix: .mp4, .mov, .webm, .mkv)."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}  # the index before the frames
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "g": str(fps)}
        elif codec == "libvpx-vp9":
            stream.options = {"deadline": "realtime", "cpu-used": "8", "g": str(fps)}
        sound = container.add_stream("aac", rate=16000) if audio else None
        index = 0
        for shot in shots:
            for _ in range(round(shot.seconds * fps)):
                frame = av.VideoFrame.from_ndarray(frame_at(shot, index, width, height), "rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode())
        if sound is not None:
            _silence(container, sound, index / fps)
    return path


def _silence(
    container: av.container.OutputContainer, sound: av.AudioStream, seconds: float
) -> None:
    samples = 1024
    for start in range(0, int(seconds * 16000), samples):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), dtype=np.float32), "fltp", "mono")
        frame.sample_rate = 16000
        frame.pts = start
        container.mux(sound.encode(frame))
    container.mux(sound.encode())


def audio_only(path: Path, seconds: float = 2.0) -> Path:
    """An .m4a/.mp4 with one AAC stream and no picture."""
    with av.open(str(path), "w") as container:
        sound = container.add_stream("aac", rate=16000)
        _silence(container, sound, seconds)
    return path


def grab(path: Path, at_seconds: float) -> np.ndarray:
    """The RGB frame shown at `at_seconds` (decoded from the nearest earlier keyframe)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(at_seconds / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at_seconds - 1e-6:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"no frame at {at_seconds} s")
