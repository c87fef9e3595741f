"""Garment-like pictures in known colours, made by the tests: a T-shirt or a dress silhouette
with shading and grain, on a plain backdrop or a busy photo-like one."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from tests import images

SHIRT = [
    (0.30, 0.15),
    (0.42, 0.10),
    (0.58, 0.10),
    (0.70, 0.15),
    (0.88, 0.32),
    (0.78, 0.42),
    (0.70, 0.36),
    (0.70, 0.90),
    (0.30, 0.90),
    (0.30, 0.36),
    (0.22, 0.42),
    (0.12, 0.32),
]
DRESS = [(0.42, 0.08), (0.58, 0.08), (0.62, 0.35), (0.80, 0.92), (0.20, 0.92), (0.38, 0.35)]


def garment(
    width: int = 900,
    height: int = 1200,
    colour: tuple[int, int, int] = (200, 25, 30),
    backdrop: str | tuple[int, int, int] = (250, 250, 250),
    shape: str = "shirt",
    seed: int = 0,
    mode: str = "RGB",
) -> Image.Image:
    """A garment silhouette in `colour` (shaded +-10%, with grain) on `backdrop`: a colour,
    "busy" (a photo-like scene of many colours) or "transparent" (RGBA, nothing behind)."""
    outline = [(x * width, y * height) for x, y in (SHIRT if shape == "shirt" else DRESS)]
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    rng = np.random.default_rng(seed)
    y = np.linspace(0.9, 1.1, height, dtype=np.float32)[:, None, None]
    cloth = np.clip(np.array(colour, np.float32) * y + rng.normal(0, 4, (height, width, 3)), 0, 255)
    fabric = Image.fromarray(cloth.astype(np.uint8), "RGB")
    if backdrop == "transparent":
        picture = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        picture.paste(fabric, (0, 0), mask)
        return picture
    if backdrop == "busy":
        behind = images.photo(width, height, seed=seed + 7).filter(ImageFilter.GaussianBlur(1))
    else:
        assert isinstance(backdrop, tuple)
        behind = Image.new("RGB", (width, height), backdrop)
    behind.paste(fabric, (0, 0), mask)
    return behind.convert(mode)
