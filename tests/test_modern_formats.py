"""Pictures people actually have: HEIC (every iPhone's default) and AVIF are decoded under the
same limits as everything else (issue #13 item 18)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from darkroom import imaging
from darkroom.domain.errors import Rejected
from darkroom.domain.records import ImageStatus
from darkroom.settings import Limits
from darkroom.wiring import Runtime
from tests import images
from tests.test_validation import final, ingest_bytes


def encoded(fmt: str, size: tuple[int, int] = (320, 200), exif_orientation: int = 1) -> bytes:
    picture = images.photo(*size, seed=3, tint=(200, 40, 40))
    out = io.BytesIO()
    exif = Image.Exif()
    if exif_orientation != 1:
        exif[0x0112] = exif_orientation
    picture.save(out, format=fmt, quality=80, exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "name"), [("HEIF", "IMG_0001.HEIC"), ("AVIF", "photo.avif")])
def test_heic_and_avif_are_decoded_and_processed(runtime: Runtime, fmt: str, name: str) -> None:
    data = encoded(fmt)
    decoded = imaging.decode(data, Limits(), 256)
    assert decoded.probe.format == fmt and decoded.image.size == (256, 160)
    r, g, b = decoded.image.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    assert r > g and r > b, "colours survive the decode"
    status, error = final(runtime, ingest_bytes(runtime, data, name))
    assert status is ImageStatus.COMPLETED, error


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_broken_heic_and_avif_are_rejected_with_a_reason(runtime: Runtime, fmt: str) -> None:
    data = encoded(fmt)
    with pytest.raises(Rejected):
        imaging.decode(data[: len(data) // 2], Limits(), 256)
    status, error = final(runtime, ingest_bytes(runtime, data[: len(data) // 3], "cut"))
    assert status is ImageStatus.REJECTED and error


def test_heic_is_held_to_the_pixel_limits() -> None:
    with pytest.raises(Rejected, match="too many pixels"):
        imaging.decode(encoded("HEIF", (640, 480)), Limits(max_pixels=100_000), 256)
