"""The offline detector: Haar cascades that ship inside opencv-python-headless 4.x.

Haar cascades answer yes or no, not a probability. The confidence given here is a calibration of
the last stage's weight (cv2's `levelWeights`): 100 * (1 - exp(-weight / scale)). Strong frontal
faces score 85-95, marginal hits under 30. It is a heuristic: recipes that need real
probabilities use the `onnx` or `rekognition` providers. There is no dog cascade: offline, dogs
are found only by a model provider.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import cv2
import cv2.data
import numpy as np

from darkroom.domain.records import Label

DEFAULT_CASCADES = {
    "cat": "haarcascade_frontalcatface_extended.xml",
    "person": "haarcascade_frontalface_default.xml",
}


@dataclass(frozen=True)
class HaarOptions:
    cascades: dict[str, str]
    # Measured at 400 px (docs/benchmarks.md): 1.2 and 15% are 3-5x faster than 1.1 and 8%
    # and still find a frontal face at 86. Pet photos frame their subject; a recipe that
    # looks for small, distant faces lowers both.
    scale_factor: float = 1.2
    min_neighbors: int = 3
    min_size: float = 0.15  # smallest face, as a share of the short side
    weight_scale: float = 3.0

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> HaarOptions:
        known = {"cascades", "scale_factor", "min_neighbors", "min_size", "weight_scale"}
        unknown = set(options) - known
        if unknown:
            raise ValueError(
                f"opencv detector: unknown options {sorted(unknown)}; known: {sorted(known)}"
            )
        values = dict(options)
        values.setdefault("cascades", DEFAULT_CASCADES)
        return cls(**values)


class HaarDetector:
    name = "opencv-haar"

    def __init__(self, options: HaarOptions) -> None:
        cv2.setNumThreads(1)  # one worker process per core already uses the cores
        self.options = options
        self.cascades: dict[str, Any] = {}
        for label, filename in options.cascades.items():
            path = (
                filename
                if os.path.isabs(filename)
                else os.path.join(cv2.data.haarcascades, filename)
            )
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise ValueError(f"opencv detector: cannot load cascade {path!r} for {label!r}")
            self.cascades[label] = cascade

    def detect(self, pixels: Any) -> list[Label]:
        gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY))
        height, width = gray.shape
        side = max(16, int(min(width, height) * self.options.min_size))
        labels: list[Label] = []
        for name, cascade in self.cascades.items():
            boxes, _levels, weights = cascade.detectMultiScale3(
                gray,
                scaleFactor=self.options.scale_factor,
                minNeighbors=self.options.min_neighbors,
                minSize=(side, side),
                outputRejectLevels=True,
            )
            for (x, y, w, h), weight in zip(boxes, np.ravel(weights), strict=False):
                confidence = 100.0 * (
                    1.0 - math.exp(-max(float(weight), 0.0) / self.options.weight_scale)
                )
                box = (x / width, y / height, w / width, h / height)
                labels.append(Label(name, confidence, tuple(float(v) for v in box), self.name))  # type: ignore[arg-type]
        return labels
