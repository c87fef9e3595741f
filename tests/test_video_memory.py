"""Keyframes stream: the peak memory of the pass does not grow with the video's length."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import videos

pytestmark = pytest.mark.slow  # encodes 40 s of video, two fresh processes

MEASURE = """
import sys
from pathlib import Path
from darkroom.video.keyframes import Options, extract

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

before = peak()
count = sum(1 for _ in extract(sys.argv[1], Options(max_keyframes=1000), int(sys.argv[2])))
print(count, peak() - before)
"""


def growth(path: Path, duration_ms: int) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(duration_ms)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    return int(out[0]), float(out[1])


def test_a_ten_times_longer_video_takes_no_more_memory(tmp_path: Path) -> None:
    shot = videos.Shot(2.0, (180, 90, 40), stripes=6)
    short = videos.make(tmp_path / "short.mp4", [shot] * 2, fps=30, size=(640, 360))
    long = videos.make(tmp_path / "long.mp4", [shot] * 20, fps=30, size=(640, 360))
    short_frames, short_mb = growth(short, 4_000)
    long_frames, long_mb = growth(long, 40_000)
    assert long_frames >= 5 * short_frames  # it did decode the whole long video
    assert long_mb < short_mb + 8, (short_mb, long_mb)
