"""1. Thumbnail: an 800px JPEG from 12 and 24 MP JPEGs, one core.

darkroom's path (the decode that validate/normalize share, then the thumbnail step's resize and
encode) against the typical handler and the fastest bare shrink-on-load paths."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from bench.common import Row, median_spread, photo_jpeg, timed
from darkroom import imaging
from darkroom.settings import Limits

BOX = 800


def typical(data: bytes) -> bytes:
    """What most hand-written handlers do: decode everything, then shrink."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img.thumbnail((BOX, BOX))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def darkroom_path(data: bytes) -> bytes:
    decoded = imaging.decode(data, Limits(), BOX)
    target = imaging.fit(decoded.probe.width, decoded.probe.height, BOX)
    picture = decoded.image
    if picture.size != target:
        picture = picture.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return imaging.encode_jpeg(picture, 85)


def pillow_draft(data: bytes) -> bytes:
    img = Image.open(io.BytesIO(data))
    img.draft("RGB", imaging.fit(img.width, img.height, BOX))
    img = img.convert("RGB")
    img.thumbnail((BOX, BOX))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def opencv_reduced(data: bytes) -> bytes:
    array = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(array, cv2.IMREAD_REDUCED_COLOR_4)
    height, width = img.shape[:2]
    scale = BOX / max(width, height)
    if scale < 1:
        img = cv2.resize(
            img, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
    ok, encoded = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(encoded)


def vips_thumbnail() -> Callable[[bytes], bytes] | None:
    try:
        import pyvips
    except (ImportError, OSError):
        return None

    def run(data: bytes) -> bytes:
        image = pyvips.Image.thumbnail_buffer(data, BOX, height=BOX)
        return bytes(image.jpegsave_buffer(Q=85, strip=True))

    return run


def run(quick: bool) -> list[Row]:
    cv2.setNumThreads(1)
    os.environ.setdefault("VIPS_CONCURRENCY", "1")
    rows: list[Row] = []
    sizes = [12.0] if quick else [12.0, 24.0]
    repeat = 3 if quick else 9
    for megapixels in sizes:
        data = photo_jpeg(megapixels, seed=int(megapixels))
        ours, spread = median_spread(timed(lambda d=data: darkroom_path(d), repeat))
        base, _ = median_spread(timed(lambda d=data: typical(d), repeat))
        rows.append(
            Row(
                "thumbnail",
                f"{megapixels:g} MP vs typical handler",
                "img/s",
                1 / ours,
                (1 / spread[1], 1 / spread[0]),
                1 / base,
                "Pillow open+convert+thumbnail",
                target=">= 3x",
                met=(base / ours) >= 3,
            )
        )
        fastest: list[tuple[str, float]] = []
        candidates: list[tuple[str, Callable[[bytes], bytes]]] = [
            ("Pillow draft", pillow_draft),
            ("OpenCV reduced", opencv_reduced),
        ]
        vips = vips_thumbnail()
        if vips is not None:
            candidates.append(("libvips thumbnail", vips))
        for name, fn in candidates:
            seconds, _ = median_spread(timed(lambda d=data, f=fn: f(d), repeat))
            fastest.append((name, seconds))
        vips_seconds = dict(fastest).get("libvips thumbnail")
        if vips_seconds is not None:
            rows.append(versus_vips(f"{megapixels:g} MP JPEG", ours, spread, vips_seconds))
        name, best = min(fastest, key=lambda item: item[1])
        rows.append(
            Row(
                "thumbnail",
                f"{megapixels:g} MP vs fastest bare path",
                "img/s",
                1 / ours,
                (1 / spread[1], 1 / spread[0]),
                1 / best,
                name,
                target="within 1.2x",
                met=(ours / best) <= 1.2,
                notes=", ".join(f"{n} {1 / s:.1f}/s" for n, s in fastest),
            )
        )
    if vips is not None:
        rows += png_rows(vips, repeat)
    return rows


def versus_vips(case: str, ours: float, spread: tuple[float, float], vips: float) -> Row:
    return Row(
        "thumbnail",
        f"{case} vs pyvips thumbnail",
        "img/s",
        1 / ours,
        (1 / spread[1], 1 / spread[0]),
        1 / vips,
        "libvips thumbnail (shrink-on-load)",
        target="within 1.2x",
        met=(ours / vips) <= 1.2,
    )


def png_rows(vips: Callable[[bytes], bytes], repeat: int) -> list[Row]:
    """12 MP PNG: no shrink-on-load in any decoder, so every path decodes all of it."""
    pixels = Image.open(io.BytesIO(photo_jpeg(12.0, seed=7))).convert("RGB")
    out = io.BytesIO()
    pixels.save(out, format="PNG", compress_level=6)
    data = out.getvalue()
    ours, spread = median_spread(timed(lambda: darkroom_path(data), repeat))
    base, _ = median_spread(timed(lambda: typical(data), repeat))
    theirs, _ = median_spread(timed(lambda: vips(data), repeat))
    return [
        versus_vips("12 MP PNG", ours, spread, theirs),
        Row(
            "thumbnail",
            "12 MP PNG vs typical handler",
            "img/s",
            1 / ours,
            (1 / spread[1], 1 / spread[0]),
            1 / base,
            "Pillow open+convert+thumbnail",
            target="measured",
            notes=f"{len(data) / 1e6:.0f} MB file",
        ),
    ]
