"""The worst files an attacker sends to take memory, made without allocating their pixels:
PNGs of zeros whose headers declare huge pictures (a few hundred KB each, issue #13 item 7)."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zeros_png(width: int, height: int, *, channels: int = 3, bit_depth: int = 8) -> bytes:
    """A valid PNG of black pixels: RGB (channels=3) or grey (1), 8 or 16 bits."""
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    row = b"\x00" * (1 + width * channels * bit_depth // 8)
    packer = zlib.compressobj(1)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


# name -> (maker, what the issue measured before the fix)
WORST = {
    "30000x4000 RGB PNG of zeros": (
        lambda: zeros_png(30000, 4000),
        "2.4 GB through /search/similar",
    ),
    "10954x10954 16-bit grey PNG": (
        lambda: zeros_png(10954, 10954, channels=1, bit_depth=16),
        "2.3 GB and 21 s in a worker",
    ),
}
