"""What every benchmark shares: generated test data, timing, and the result row."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass
class Row:
    """One line of the table: darkroom's figure against a baseline measured in the same run."""

    bench: str
    case: str
    unit: str
    darkroom: float
    spread: tuple[float, float] | None = None
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = True
    target: str = ""
    met: bool | None = None
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.darkroom == 0:
            return None
        assert self.baseline is not None
        return (
            self.darkroom / self.baseline
            if self.higher_is_better
            else self.baseline / self.darkroom
        )


def photo_jpeg(megapixels: float, seed: int, quality: int = 90) -> bytes:
    """A photo-like JPEG (gradients, shapes, grain) of about `megapixels`, 4:3."""
    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = width * 3 // 4
    rng = np.random.default_rng(seed)
    small = Image.fromarray(
        rng.integers(0, 255, (height // 64 + 2, width // 64 + 2, 3), dtype=np.uint8)
    )
    base = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-12, 12, (height, width, 1), dtype=np.int16)
    pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def write_photos(folder: Path, count: int, megapixels: float, seed: int = 0) -> list[Path]:
    """`count` distinct JPEGs: one base picture, with a different patch in each copy."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.open(io.BytesIO(photo_jpeg(megapixels, seed)))
    base.load()
    paths = []
    for n in range(count):
        variant = base.copy()
        variant.paste((n * 37 % 256, n * 91 % 256, n * 53 % 256), (0, 0, 64, 64))
        path = folder / f"photo-{n:04}.jpg"
        variant.save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


def timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def median_spread(samples: list[float]) -> tuple[float, tuple[float, float]]:
    return statistics.median(samples), (min(samples), max(samples))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
