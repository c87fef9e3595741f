"""Dominant colours without a model: CIELAB, k-means, and a palette of basic colour terms.

- The picture goes to CIELAB (D65), where distances follow how different colours look.
- Background: the colours of the border ring (a few k-means clusters of it) are the
  background's; pixels near one of them (ΔE below a tolerance) and connected to the border
  (a flood from the edge, not a global threshold) are removed. A garment the colour of the
  backdrop stays where it does not touch the border. When this leaves almost nothing (a
  close-up, a pattern to the edges), the whole picture is used.
- k-means (k <= 5, k-means++ seeded, so the same picture gives the same answer) over the
  remaining pixels; each cluster takes the name of the nearest palette colour, and clusters of
  one name add their shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# Basic colour terms (Berlin & Kay's eleven, plus beige, navy and teal that shops sell by), as
# typical sRGB garment colours.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (196, 30, 40),
    "orange": (235, 125, 30),
    "yellow": (240, 210, 50),
    "green": (50, 135, 60),
    "teal": (0, 128, 128),
    "blue": (40, 90, 190),
    "navy": (25, 35, 80),
    "purple": (115, 55, 145),
    "pink": (240, 150, 185),
    "brown": (115, 70, 40),
    "beige": (215, 195, 160),
    "white": (245, 245, 242),
    "grey": (128, 128, 128),
    "black": (22, 22, 24),
}


def to_lab(rgb: Any) -> Any:
    """sRGB uint8 (..., 3) to CIELAB (D65) float32: L 0-100, a and b about -128..127."""
    c = np.asarray(rgb, dtype=np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
        dtype=np.float32,
    )
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    lab = np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )
    return lab.astype(np.float32)


_NAMES = list(PALETTE)
_PALETTE_LAB = to_lab(np.array([PALETTE[n] for n in _NAMES], dtype=np.uint8))


def nearest_name(lab: Any) -> str:
    return _NAMES[int(np.argmin(((_PALETTE_LAB - lab) ** 2).sum(axis=1)))]


def _nearest(points: Any, centres: Any) -> Any:
    """Index of the nearest centre for each point (squared distances expanded: no n*k*d array)."""
    gaps = (centres**2).sum(axis=1)[None, :] - 2.0 * points @ centres.T
    return np.argmin(gaps, axis=1)


def kmeans(points: Any, k: int, seed: int = 0, rounds: int = 25) -> tuple[Any, Any]:
    """(centres (k', d), label per point): k-means++ seeding, Lloyd rounds; k' <= k when the
    points have fewer distinct values."""
    rng = np.random.default_rng(seed)
    k = min(k, len(np.unique(points.round(1), axis=0)))
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        gaps = np.min(((points[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        if gaps.sum() <= 0:
            break
        centres.append(points[rng.choice(len(points), p=gaps / gaps.sum())])
    at = np.array(centres, dtype=np.float32)
    for _ in range(rounds):
        labels = _nearest(points, at)
        counts = np.bincount(labels, minlength=len(at)).astype(np.float32)
        sums = np.zeros_like(at)
        np.add.at(sums, labels, points)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], at)
        moved = moved.astype(np.float32)
        if np.allclose(moved, at, atol=0.05):
            break
        at = moved
    return at, _nearest(points, at)


def background_mask(lab: Any, tolerance: float, ring: int = 2) -> Any:
    """True where the pixel is background: near a border colour and connected to the border."""
    height, width = lab.shape[:2]
    edge = np.zeros((height, width), dtype=bool)
    edge[:ring], edge[-ring:], edge[:, :ring], edge[:, -ring:] = True, True, True, True
    border = lab[edge]
    centres, labels = kmeans(border, 3, seed=1)
    common = [c for i, c in enumerate(centres) if (labels == i).mean() >= 0.15]
    near = np.zeros((height, width), dtype=bool)
    for centre in common:
        near |= np.sqrt(((lab - centre) ** 2).sum(-1)) < tolerance
    count, components = cv2.connectedComponents(near.astype(np.uint8), connectivity=4)
    touching = np.unique(components[edge & near])
    return np.isin(components, touching[touching > 0]) & near if count > 1 else near


@dataclass(frozen=True)
class Colour:
    name: str
    share: float
    hex: str


def dominant_colours(
    rgb: Any,
    k: int = 5,
    tolerance: float = 14.0,
    min_share: float = 0.02,
    max_points: int = 6000,
) -> tuple[list[Colour], float]:
    """The named colours of the garment (largest share first) and the share of the picture
    taken as background."""
    pixels = np.asarray(rgb, dtype=np.uint8)
    lab = to_lab(pixels)
    background = background_mask(lab, tolerance)
    removed = float(background.mean())
    keep = ~background
    if keep.mean() < 0.05:  # nothing stands out from the border: the whole picture
        keep[:] = True
    points, colours = lab[keep], pixels[keep].astype(np.float32)
    if len(points) > max_points:
        chosen = np.random.default_rng(0).choice(len(points), max_points, replace=False)
        points, colours = points[chosen], colours[chosen]
    centres, labels = kmeans(points, k)
    shares: dict[str, float] = {}
    sums: dict[str, Any] = {}
    for index, centre in enumerate(centres):
        members = labels == index
        if not members.any():
            continue
        name = nearest_name(centre)
        shares[name] = shares.get(name, 0.0) + float(members.mean())
        sums[name] = sums.get(name, 0.0) + colours[members].sum(axis=0)
    found = []
    for name, share in sorted(shares.items(), key=lambda pair: -pair[1]):
        if share < min_share:
            continue
        mean = sums[name] / (share * len(points))
        red, green, blue = (round(float(v)) for v in np.clip(mean, 0, 255))
        found.append(Colour(name, round(share, 4), f"#{red:02x}{green:02x}{blue:02x}"))
    return found, round(removed, 4)
