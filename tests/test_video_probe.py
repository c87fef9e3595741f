"""Probing by what the bytes are: each accepted container and codec, and the specific reason
for one that is not (files made here with PyAV)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from darkroom.domain.errors import Rejected
from darkroom.settings import Limits
from darkroom.video.probe import looks_like_video, probe
from tests import videos

SHORT = (videos.Shot(1.0, (200, 40, 40)), videos.Shot(1.0, (30, 160, 60), stripes=8))


@pytest.mark.parametrize(
    ("name", "codec", "expected"),
    [
        ("a.mp4", "libx264", ("mp4", "h264", "video/mp4")),
        ("a.mov", "libx264", ("mov", "h264", "video/quicktime")),
        ("a.webm", "libvpx-vp9", ("webm", "vp9", "video/webm")),
        ("a.webm", "libvpx", ("webm", "vp8", "video/webm")),
        ("a.mkv", "libx264", ("mkv", "h264", "video/x-matroska")),
    ],
)
def test_accepted_containers_and_codecs(
    tmp_path: Path, name: str, codec: str, expected: tuple[str, str, str]
) -> None:
    path = videos.make(tmp_path / name, SHORT, codec=codec, size=(160, 120))
    renamed = path.rename(tmp_path / "upload.bin")  # the name plays no part
    assert looks_like_video(str(renamed))
    info = probe(str(renamed), Limits())
    assert (info.format, info.codec, info.content_type) == expected
    assert (info.width, info.height, info.fps, info.duration_ms, info.frames) == (
        160,
        120,
        25,
        2000,
        50,
    )


@pytest.mark.parametrize(
    ("name", "codec", "reason"),
    [
        ("a.avi", "libx264", "container 'AVI (Audio Video Interleaved)' is not accepted"),
        ("a.mp4", "mpeg4", "video codec 'mpeg4' is not accepted"),
        ("a.mkv", "mpeg2video", "video codec 'mpeg2video' is not accepted"),
    ],
)
def test_other_containers_and_codecs_are_refused_by_name(
    tmp_path: Path, name: str, codec: str, reason: str
) -> None:
    path = videos.make(tmp_path / name, SHORT, codec=codec, size=(160, 120))
    with pytest.raises(Rejected, match=re.escape(reason)):
        probe(str(path), Limits())


def test_a_frame_rate_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = videos.make(tmp_path / "fast.mp4", SHORT, size=(160, 120))
    with pytest.raises(Rejected, match="frame rate 25 is outside 0-24 fps"):
        probe(str(path), Limits(max_video_fps=24))


def test_a_picture_is_not_taken_for_a_video(tmp_path: Path) -> None:
    from tests import images

    photo = images.save(images.photo(64, 48, seed=1), tmp_path / "p.jpg")
    assert not looks_like_video(str(photo))
