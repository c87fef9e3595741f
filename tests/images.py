"""Pictures the tests make themselves: photo-like content, every awkward format, bad files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def photo(
    width: int = 640, height: int = 480, seed: int = 0, tint: tuple[int, int, int] | None = None
) -> Image.Image:
    """Smooth gradients, blobs and grain: compresses and decodes like a photograph, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / (37 + seed % 11) + seed),
            128 + 100 * np.cos(y / (53 + seed % 7)),
            128 + 80 * np.sin((x + y) / 71.0),
        ],
        axis=-1,
    )
    for _ in range(6):
        cx, cy, r = (
            rng.uniform(0, width),
            rng.uniform(0, height),
            rng.uniform(2, max(3, min(width, height) / 3)),
        )
        mask = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
        base[mask] = rng.uniform(0, 255, 3)
    base += rng.normal(0, 6, base.shape)
    if tint is not None:
        base = base * 0.3 + np.array(tint, dtype=np.float32) * 0.7
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def save(img: Image.Image, path: Path, fmt: str | None = None, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **options)
    return path


def jpeg_bytes(img: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", **options)
    return out.getvalue()


def with_orientation(img: Image.Image, orientation: int) -> bytes:
    """A JPEG whose EXIF says to rotate it on display."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make: must not reach derivatives
    return jpeg_bytes(img, exif=exif.tobytes())


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


def animated_gif(frames: int = 3) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", (64, 48), colours[i % len(colours)]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()
