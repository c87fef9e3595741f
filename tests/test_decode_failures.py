"""Untrusted bytes: whatever a decoder raises is a rejection with its reason, never a retry;
memory for one decode is bounded by a budget read from the header."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from darkroom import imaging
from darkroom.domain.errors import Rejected
from darkroom.settings import Limits


def encoded(fmt: str, **options: object) -> bytes:
    rng = random.Random(7)
    img = Image.new("RGB", (64, 48))
    img.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64 * 48)]
    )
    out = io.BytesIO()
    if fmt == "GIF":
        frames = [img.quantize(), img.rotate(90).quantize()]
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    elif fmt == "TIFF":
        img.save(out, "TIFF", save_all=True, append_images=[img.rotate(180)], **options)
    else:
        img.save(out, fmt, **options)
    return out.getvalue()


VALID = {fmt: encoded(fmt) for fmt in ("PNG", "GIF", "TIFF", "JPEG", "WEBP", "BMP")}


def decode_or_reject(data: bytes, limits: Limits | None = None) -> None:
    try:
        imaging.decode(data, limits or Limits(), 256)
    except Rejected as exc:
        assert str(exc), "a rejection carries a reason"


@pytest.mark.parametrize("fmt", sorted(VALID))
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_files_are_rejected_or_decoded(fmt: str, keep: float) -> None:
    data = VALID[fmt]
    decode_or_reject(data[: int(len(data) * keep)])


@pytest.mark.parametrize("fmt", ["TIFF", "GIF"])
def test_a_corrupted_frame_table_is_a_rejection(fmt: str) -> None:
    data = bytearray(VALID[fmt])
    for offset in range(8, len(data), 97):  # scribble over the structure, not just the tail
        data[offset] ^= 0xFF
    decode_or_reject(bytes(data))


def test_any_decoder_error_is_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decoder that raises what no one expected (DDS's NotImplementedError, a KeyError from
    n_frames) still rejects with its reason."""
    for error in (NotImplementedError("no decoder for DXT10"), KeyError(273), IndexError("x")):

        def broken(self: Image.Image, error: Exception = error) -> None:
            raise error

        monkeypatch.setattr(Image.Image, "load", broken)
        with pytest.raises(Rejected, match="corrupt or undecodable"):
            imaging.decode(VALID["PNG"], Limits(), 256)


def test_memory_budget_refuses_before_decoding() -> None:
    """A 30000x4000 PNG of zeros is 466 KB on disk and hundreds of MB decoded."""
    out = io.BytesIO()
    Image.new("L", (30000, 4000)).save(out, "PNG")
    with pytest.raises(Rejected, match="memory budget"):
        imaging.decode(out.getvalue(), Limits(max_decode_bytes=64 * 1024 * 1024), 256)


def test_a_large_jpeg_fits_its_budget_through_shrink_on_load() -> None:
    out = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 10, 10)).save(out, "JPEG")
    decoded = imaging.decode(out.getvalue(), Limits(max_decode_bytes=32 * 1024 * 1024), 400)
    assert max(decoded.image.size) == 400


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(
    fmt=st.sampled_from(sorted(VALID)),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
    cut=st.floats(0.05, 1.0),
)
def test_mutated_files_decode_or_reject(
    fmt: str, flips: list[tuple[float, int]], cut: float
) -> None:
    data = bytearray(VALID[fmt])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    decode_or_reject(bytes(data[: max(1, int(len(data) * cut))]))
