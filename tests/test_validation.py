"""Bad input gets a clear, specific reason, and never crashes a worker; odd-but-valid input
comes out upright, 8-bit sRGB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from darkroom.domain.records import ImageStatus
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import drain

# Every test here runs on SQLite and on PostgreSQL: the adapters must behave alike.
BOTH_BACKENDS = True


def ingest_bytes(runtime: Runtime, data: bytes, filename: str, recipe: str = "colour-pets") -> str:
    accepted = runtime.intake.accept_stream(
        io.BytesIO(data), filename=filename, owner="alice", recipe=recipe
    )
    drain(runtime)
    return accepted.image.id


def final(runtime: Runtime, image_id: str) -> tuple[ImageStatus, str | None]:
    image = runtime.catalog.get_image(image_id)
    assert image is not None
    return image.status, image.error


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.jpg", b"", "empty file: 0 bytes"),
        ("notes.jpg", b"this is text, not a picture\n" * 10, "not an image"),
        ("script.png", b"#!/bin/sh\nrm -rf /\n", "not an image"),
        ("half.jpg", images.truncated(images.jpeg_bytes(images.photo(800, 600))), "truncated"),
        ("half.png", images.truncated(images.photo(300, 200).tobytes()), "not an image"),
        ("bomb.png", images.png_declaring(30_000, 30_000), "too many pixels"),
        ("ribbon.png", images.png_declaring(100_000, 1), "a side is over the limit"),
        ("tall.png", images.png_declaring(1, 100_000), "a side is over the limit"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "",
)
def test_bad_input_is_rejected_with_its_reason(
    runtime: Runtime, name: str, data: bytes, reason: str
) -> None:
    status, error = final(runtime, ingest_bytes(runtime, data, name))
    assert status is ImageStatus.REJECTED
    assert error is not None and reason in error


def test_truncated_png_is_rejected(runtime: Runtime) -> None:
    out = io.BytesIO()
    images.photo(400, 300).save(out, format="PNG")
    status, error = final(
        runtime, ingest_bytes(runtime, images.truncated(out.getvalue(), 0.5), "cut.png")
    )
    assert status is ImageStatus.REJECTED
    assert error is not None and "truncated" in error


def test_unsupported_format_is_named(runtime: Runtime) -> None:
    out = io.BytesIO()
    images.photo(64, 64).save(out, format="PPM")
    status, error = final(runtime, ingest_bytes(runtime, out.getvalue(), "image.ppm"))
    assert status is ImageStatus.REJECTED
    assert error is not None and "unsupported format PPM" in error


def test_bomb_is_refused_without_allocating(runtime: Runtime) -> None:
    """30000x30000 RGB would be 2.7 GB; the header check refuses it before any decode."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ingest_bytes(runtime, images.png_declaring(30_000, 30_000), "bomb.png")
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000


def test_wrong_extension_is_decoded_by_content(runtime: Runtime) -> None:
    out = io.BytesIO()
    images.photo(320, 200, tint=(250, 10, 10)).save(out, format="PNG")
    image_id = ingest_bytes(runtime, out.getvalue(), "really-a-png.jpg")
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert image.format == "PNG"
    assert image.location.endswith(".png")  # filed under its real type


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (400, 300)), (3, (400, 300)), (6, (300, 400)), (8, (300, 400))]
)
def test_exif_orientation_is_applied(
    runtime: Runtime, orientation: int, size: tuple[int, int]
) -> None:
    picture = Image.new("RGB", (400, 300), (255, 0, 0))
    picture.paste((0, 0, 255), (0, 0, 200, 300))  # left half blue, right half red
    image_id = ingest_bytes(runtime, images.with_orientation(picture, orientation), "rotated.jpg")
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert (image.width, image.height) == size
    assert image.thumbnail is not None
    thumb = Image.open(io.BytesIO(runtime.blobs.get(image.thumbnail)))
    assert thumb.size == size
    assert not thumb.getexif()  # no orientation, no camera make: metadata stripped
    pixels = np.asarray(thumb, dtype=np.int32)
    # Orientation 6 turns the picture clockwise on display: the blue left half ends on top.
    where_blue = {1: pixels[:, :50], 3: pixels[:, -50:], 6: pixels[:50, :], 8: pixels[-50:, :]}[
        orientation
    ]
    assert where_blue[..., 2].mean() > 200 and where_blue[..., 0].mean() < 60


def test_cmyk_jpeg_becomes_rgb(runtime: Runtime) -> None:
    cmyk = images.photo(300, 200, tint=(250, 10, 10)).convert("CMYK")
    out = io.BytesIO()
    cmyk.save(out, format="JPEG")
    image_id = ingest_bytes(runtime, out.getvalue(), "print.jpg")
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert image.class_name == "cat"  # still red after conversion: the detector saw real colour
    thumb = Image.open(io.BytesIO(runtime.blobs.get(image.thumbnail or "")))
    assert thumb.mode == "RGB"


def test_sixteen_bit_grey_is_scaled_not_clipped(runtime: Runtime) -> None:
    ramp = (np.linspace(0, 65535, 256, dtype=np.uint32)[None, :].repeat(64, axis=0)).astype(
        np.uint16
    )
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, format="PNG")
    image_id = ingest_bytes(runtime, out.getvalue(), "deep.png")
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED
    thumb = np.asarray(
        Image.open(io.BytesIO(runtime.blobs.get(image.thumbnail or ""))).convert("L"),
        dtype=np.int32,
    )
    assert thumb[:, :20].mean() < 40 and thumb[:, -20:].mean() > 215  # a ramp, not all white


def test_palette_with_transparency_and_alpha_flatten_on_white(runtime: Runtime) -> None:
    rgba = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    rgba.paste((250, 10, 10, 255), (0, 0, 100, 100))
    for mode, name in (("RGBA", "alpha.png"), ("P", "palette.png")):
        picture = rgba if mode == "RGBA" else rgba.convert("P")
        out = io.BytesIO()
        picture.save(out, format="PNG")
        image = runtime.catalog.get_image(ingest_bytes(runtime, out.getvalue(), name))
        assert image is not None and image.status is ImageStatus.COMPLETED, image and image.error
        thumb = np.asarray(
            Image.open(io.BytesIO(runtime.blobs.get(image.thumbnail or ""))), dtype=np.int32
        )
        assert thumb[:, -30:].mean() > 240  # transparent half became white, not black


def test_animated_gif_uses_first_frame(runtime: Runtime) -> None:
    image_id = ingest_bytes(runtime, images.animated_gif(3), "blink.gif")
    image = runtime.catalog.get_image(image_id)
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert image.class_name == "cat"  # the first frame is red
    outputs = runtime.catalog.step_outputs(image.job_id or "")
    assert outputs["validate"]["frames"] == 3
    assert "first of 3 frames" in outputs["normalize"]["conversions"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"])
def test_every_accepted_format_completes(runtime: Runtime, fmt: str) -> None:
    out = io.BytesIO()
    images.photo(160, 120, seed=3).save(out, format=fmt)
    image = runtime.catalog.get_image(ingest_bytes(runtime, out.getvalue(), f"x.{fmt.lower()}"))
    assert image is not None and image.status is ImageStatus.COMPLETED, image and image.error
    assert image.format == fmt


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..\\..\\windows\\system.ini",
        "/abs/path.jpg",
        "a/../../b.jpg",
        "\x00evil.jpg",
        "...",
    ],
)
def test_client_file_names_never_become_paths(runtime: Runtime, name: str) -> None:
    data = images.jpeg_bytes(images.photo(64, 64))
    accepted = runtime.intake.accept_stream(
        io.BytesIO(data), filename=name, owner="alice", recipe="colour-pets"
    )
    key = accepted.image.location
    assert key.startswith("input/alice/") and ".." not in key.split("/")
    assert "/" not in accepted.image.filename and "\\" not in accepted.image.filename
    drain(runtime)
    stored = runtime.catalog.get_image(accepted.image.id)
    assert stored is not None and stored.status is ImageStatus.COMPLETED


def test_limits_come_from_settings(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from darkroom.settings import Settings
    from darkroom.wiring import build

    monkeypatch.setenv("DARKROOM_MAX_SIDE", "100")
    small = build(Settings())
    try:
        status, error = final(
            small, ingest_bytes(small, images.jpeg_bytes(images.photo(300, 50)), "wide.jpg")
        )
    finally:
        small.close()
    assert status is ImageStatus.REJECTED
    assert error is not None and "limit of 100" in error
