"""Decoding pictures safely and cheaply with Pillow.

Every decode here checks the header against the limits before a pixel is allocated, decodes
JPEGs straight to the size needed (DCT scaling, "shrink on load"), and turns whatever came in
(EXIF rotation, CMYK, 16-bit, palette, alpha, animation) into upright 8-bit sRGB.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, UnidentifiedImageError

from darkroom.domain.errors import Rejected
from darkroom.settings import Limits

# Pillow's own bomb check is replaced by our limits, checked from the header before decoding.
Image.MAX_IMAGE_PIXELS = None
# HEIC/HEIF (every iPhone's default) through libheif; AVIF is Pillow's own.
pillow_heif.register_heif_opener()

ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "TIFF", "BMP", "HEIF", "AVIF"}
ACCEPTED_NAMES = "JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC/HEIF, AVIF"
EXTENSIONS = {
    "HEIF": ".heic",
    "AVIF": ".avif",
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "TIFF": ".tif",
    "BMP": ".bmp",
}
CONTENT_TYPES = {
    "HEIF": "image/heic",
    "AVIF": "image/avif",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}
# EXIF orientations 5-8 turn the picture a quarter, swapping width and height.
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_SRGB = ImageCms.createProfile("sRGB")

Source = str | os.PathLike[str] | bytes | IO[bytes]


@dataclass(frozen=True)
class Probe:
    """What the header says, before any pixel is decoded."""

    format: str
    width: int  # as displayed, after the EXIF orientation
    height: int
    mode: str
    frames: int
    orientation: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@dataclass
class Decoded:
    """An upright 8-bit RGB picture, possibly smaller than the original, and what was done to it."""

    image: Image.Image
    probe: Probe
    conversions: list[str] = field(default_factory=list)


def _open(source: Source) -> Image.Image:
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        return Image.open(source)
    except UnidentifiedImageError:
        raise Rejected("not an image: the data is no format darkroom can decode") from None
    except MemoryError:
        raise
    except Exception as exc:  # any error of a decoder on untrusted bytes: a rejection, not a retry
        raise Rejected(f"unreadable image header: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# Bytes per pixel of a decoded picture in each of Pillow's modes.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2,
               "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBX": 4, "CMYK": 4,
               "I": 4, "F": 4}  # fmt: skip
# Full-size copies a decode of each mode holds at its peak, measured with VmHWM (alpha is
# premultiplied before shrinking; 16-bit PNGs are unpacked through a second buffer and then
# go through numpy); the others shrink in place.
_PEAK_COPIES = {"LA": 2, "PA": 2, "P": 2, "RGBA": 2, "I": 2, "F": 2, "1": 2,
                "I;16": 3, "I;16B": 3, "I;16L": 3}  # fmt: skip


def decode_cost(mode: str, width: int, height: int) -> int:
    """Bytes decoding a (width x height) picture in `mode` takes at its peak. What comes after
    (shrinking to the working size first, then converting) is small beside it."""
    return width * height * _MODE_BYTES.get(mode, 8) * _PEAK_COPIES.get(mode, 1)


def _orientation(img: Image.Image) -> int:
    try:
        if img.format == "PNG" and "exif" not in img.info:
            # Pillow's PNG getexif() decodes every pixel to look for an eXIf chunk after the
            # image data: 343 MB for a 350 KB file, before any budget is checked.
            return 1
        value = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not reject a picture that decodes
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def probe(source: Source, limits: Limits) -> tuple[Image.Image, Probe]:
    """Open and check the header: format accepted, size within limits. Nothing decoded yet."""
    img = _open(source)
    fmt = (img.format or "").upper()
    if fmt not in ACCEPTED_FORMATS:
        img.close()
        raise Rejected(f"unsupported format {fmt or 'unknown'}: accepted are {ACCEPTED_NAMES}")
    width, height = img.size
    if width < 1 or height < 1:
        img.close()
        raise Rejected(f"empty image: {width}x{height} pixels")
    if max(width, height) > limits.max_side:
        img.close()
        raise Rejected(
            f"too large: {width}x{height} pixels, a side is over the limit of {limits.max_side}"
        )
    if width * height > limits.max_pixels:
        img.close()
        raise Rejected(
            f"too many pixels: {width}x{height} = {width * height:,} is over the limit of "
            f"{limits.max_pixels:,} (a decompression bomb is refused before it is decoded)"
        )
    orientation = _orientation(img)
    if orientation in SWAPPING_ORIENTATIONS:
        width, height = height, width
    try:
        frames = int(getattr(img, "n_frames", 1) or 1)
    except MemoryError:
        raise
    except Exception as exc:  # a corrupt frame table (TIFF's IFDs, GIF's blocks)
        img.close()
        raise Rejected(f"corrupt image: its frames cannot be counted ({_reason(exc)})") from None
    return img, Probe(fmt, width, height, img.mode, frames, orientation)


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """The size of (width, height) scaled down to fit in a box x box square (never up)."""
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode(source: Source, limits: Limits, box: int) -> Decoded:
    """Decode to an upright 8-bit sRGB picture that fits in box x box, reading every byte.

    A truncated or corrupt file raises Rejected: the whole stream is decoded, even when JPEG's
    DCT scaling makes the pixels small.
    """
    img, info = probe(source, limits)
    conversions: list[str] = []
    try:
        if info.format in {"JPEG", "MPO"}:
            # draft() works on the stored (un-rotated) size; ask for the fitted size of that.
            stored_w, stored_h = img.size
            img.draft("RGB" if img.mode != "CMYK" else "CMYK", fit(stored_w, stored_h, box))
        # After shrink-on-load (JPEG's draft), what decoding will take is known from the header.
        cost = decode_cost(img.mode, *img.size)
        if cost > limits.max_decode_bytes:
            raise Rejected(
                f"over the memory budget: decoding {img.size[0]}x{img.size[1]} {img.mode} takes "
                f"{cost / 2**20:,.0f} MiB, the budget is {limits.max_decode_bytes / 2**20:,.0f} "
                "MiB (DARKROOM_MAX_DECODE_BYTES)"
            )
        if info.frames > 1:
            img.seek(0)
            conversions.append(f"first of {info.frames} frames")
        img.load()
        # Pillow loads some files lazily past load(); a zero-byte tail shows up here.
        if img.size[0] < 1 or img.size[1] < 1:
            raise Rejected("empty image")
        # Shrink before any conversion, so no full-size copy is ever made (a 16-bit picture
        # scaled to 8 bits at full size took 2.3 GB).
        img = _reduce(img, box, conversions)
        upright = _transpose(img, info.orientation)
        if info.orientation != 1:
            conversions.append(f"EXIF orientation {info.orientation} applied")
        rgb = to_srgb(upright, conversions)
        target = fit(info.width, info.height, box)
        if max(rgb.size) > box:
            rgb = rgb.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    except (Rejected, MemoryError):
        raise
    except Exception as exc:  # whatever a decoder raises on untrusted bytes: bad input, final
        raise Rejected(f"corrupt or undecodable image: {_reason(exc)}") from None
    return Decoded(rgb, info, conversions)


_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "RGBX", "I", "F", "CMYK"}
_SUBSAMPLED = {"I;16", "I;16B", "I;16L"}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _reduce(img: Image.Image, box: int, conversions: list[str]) -> Image.Image:
    """Box-average by an integer factor that keeps the longest side at least `box` (the final
    resize does the rest). The decoded full-size picture is freed before anything else runs."""
    factor = max(img.size) // box
    if factor < 2:
        return img
    if img.mode in _SUBSAMPLED:  # Pillow cannot reduce these: every factor-th pixel instead
        smaller = Image.fromarray(np.ascontiguousarray(np.asarray(img)[::factor, ::factor]))
    elif img.mode in _REDUCIBLE:
        smaller = img.reduce(factor)
    else:
        return img
    smaller.info = dict(img.info)  # the ICC profile and transparency travel with it
    conversions.append(f"reduced {factor}x while decoding")
    img.close()
    return smaller


def _transpose(img: Image.Image, orientation: int) -> Image.Image:
    """Turn upright by the EXIF orientation read from the header (a reduced copy has no EXIF)."""
    method = _TRANSPOSE.get(orientation)
    return img.transpose(method) if method is not None else img


def to_srgb(img: Image.Image, conversions: list[str]) -> Image.Image:
    """Any mode to 8-bit RGB: alpha flattened on white, 16-bit scaled, ICC profiles applied."""
    mode = img.mode
    icc = img.info.get("icc_profile")
    if mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        img = _scale_to_8bit(img)
        conversions.append(f"{mode} scaled to 8-bit")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        conversions.append("palette expanded")
    if img.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
        conversions.append("alpha flattened on white")
    if icc and img.mode in {"RGB", "CMYK"}:
        try:
            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(img, source_profile, _SRGB, outputMode="RGB")
            if converted is not None:
                conversions.append(f"{img.mode} ICC profile converted to sRGB")
                img = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to Pillow's plain conversion below
    if img.mode != "RGB":
        conversions.append(f"{img.mode} converted to RGB")
        img = img.convert("RGB")
    return img


def _scale_to_8bit(img: Image.Image) -> Image.Image:
    array = np.asarray(img, dtype=np.float32)
    top = float(array.max()) if array.size else 0.0
    if top > 255:
        array = array * (255.0 / (65535.0 if top <= 65535 else top))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), mode="L")


def encode_jpeg(img: Image.Image, quality: int = 85) -> bytes:
    """A JPEG with no metadata: derivatives never carry the original's EXIF or GPS."""
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue()


def to_array(img: Image.Image) -> Any:
    return np.asarray(img.convert("RGB"))


def perceptual_hash(img: Image.Image) -> str:
    """64-bit DCT perceptual hash (pHash) as 16 hex digits: near-identical pictures differ by a
    few bits, so a resized or recompressed copy is found by Hamming distance."""
    gray = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BILINEAR), np.float64)
    coeffs = _DCT @ gray @ _DCT.T
    low = coeffs[:8, :8].flatten()
    median = np.median(low[1:])
    bits = low > median
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _dct_matrix(n: int) -> Any:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0, :] = np.sqrt(1.0 / n)
    return matrix


_DCT = _dct_matrix(32)
