"""Video keyframes: seconds of video reduced to keyframes per second of wall time, and the peak
memory of the process, against the typical hand-written worker (OpenCV `VideoCapture` decoding
every frame and keeping every 30th as a JPEG), over the same files in the same run."""

from __future__ import annotations

import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from bench.common import Row
from bench.memory import peak_rss_mb


def _files(folder: Path, quick: bool) -> list[tuple[Path, float]]:
    from tests import videos  # the tests' generator: shots of known colours, with motion

    seconds = 8.0 if quick else 30.0
    shots = [
        videos.Shot(seconds / 3, (200, 40, 40)),
        videos.Shot(seconds / 3, (30, 160, 60), stripes=8),
        videos.Shot(seconds / 3, (40, 60, 210), stripes=24),
    ]
    return [
        (videos.make(folder / "hd.mp4", shots, fps=30, size=(1280, 720)), seconds),
        (
            videos.make(folder / "sd.webm", shots, codec="libvpx-vp9", fps=30, size=(640, 360)),
            seconds,
        ),
    ]


def _darkroom(paths: list[str], queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from darkroom import imaging
    from darkroom.settings import Limits
    from darkroom.video.keyframes import Options, extract
    from darkroom.video.probe import probe

    imported = peak_rss_mb()
    started = time.perf_counter()
    frames = 0
    for path in paths:
        info = probe(path, Limits())
        for keyframe in extract(path, Options(), info.duration_ms):
            imaging.encode_jpeg(keyframe.picture, 85)
            frames += 1
    queue.put((time.perf_counter() - started, frames, peak_rss_mb(), imported))


def _typical(paths: list[str], queue: mp.Queue) -> None:  # type: ignore[type-arg]
    import cv2

    imported = peak_rss_mb()
    started = time.perf_counter()
    frames = 0
    for path in paths:
        capture = cv2.VideoCapture(path)
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % 30 == 0:
                cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
                frames += 1
            index += 1
        capture.release()
    queue.put((time.perf_counter() - started, frames, peak_rss_mb(), imported))


def _measure(target: object, paths: list[str]) -> tuple[float, int, float, float]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(paths, queue))
    process.start()
    result = queue.get(timeout=900)
    process.join()
    return result  # type: ignore[no-any-return]


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        made = _files(Path(tmp), quick)
        paths = [str(path) for path, _ in made]
        total = sum(seconds for _, seconds in made)
        ours = _measure(_darkroom, paths)
        theirs = _measure(_typical, paths)
    notes = (
        f"{total:.0f} s of video (720p H.264 + 360p VP9, 30 fps, 3 shots each); keyframes: "
        f"darkroom {ours[1]} (per shot + every 2 s), typical {theirs[1]} (every 30th frame)"
    )
    return [
        Row(
            "video",
            "keyframes: video seconds per second",
            "s/s",
            total / ours[0],
            baseline=total / theirs[0],
            baseline_name="cv2 every frame, keep 1/30",
            target=">= 1x",
            met=total / ours[0] >= total / theirs[0],
            notes=notes,
        ),
        Row(
            "video",
            "keyframes: peak memory above imports",
            "MB",
            ours[2] - ours[3],
            baseline=theirs[2] - theirs[3],
            baseline_name="cv2 every frame, keep 1/30",
            higher_is_better=False,
            target="<= 1x",
            met=ours[2] - ours[3] <= theirs[2] - theirs[3],
            notes=(
                f"peak RSS (VmHWM) of a fresh process: darkroom {ours[2]:.0f} MB "
                f"({ours[3]:.0f} after its imports: PyAV, PySceneDetect, OpenCV, Pillow), "
                f"typical {theirs[2]:.0f} MB ({theirs[3]:.0f} after importing cv2)"
            ),
        ),
    ]
