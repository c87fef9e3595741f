"""Offline OCR: RapidOCR's PP-OCR models (Apache-2.0) on onnxruntime, from inside its wheel.

The `rapidocr` wheel on PyPI carries its detection, orientation and recognition models (PP-OCRv6
small det and rec, PP-OCR mobile v2 cls; the recogniser's character list is inside its ONNX
file). Each model is given to RapidOCR by its path in the installed package, so RapidOCR never
takes its download branch; the name of this reader carries the package version and the first
digits of each model's SHA-256, so a stored result says exactly which models read it.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.ports import TextLine

# The models the wheel ships, by RapidOCR's config section.
MODELS = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}


class RapidOcrOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_confidence: float = Field(default=50.0, ge=0, le=100, description="percent, per line")
    threads: int = Field(default=1, ge=1, le=64)
    rotated: bool = Field(default=True, description="also read text upside down (angle model)")
    # PaddleOCR's own default: the text finder sees at most 960 px (14 px text in a 1920 px
    # screenshot is still found; lines are read from the full picture). RapidOCR's default
    # scales the short side up to 736 instead, 2-3x slower on screenshots for the same lines.
    side: int = Field(default=960, ge=320, le=4096, description="long side the text finder sees")


def models_folder() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


@cache
def model_digests() -> dict[str, str]:
    """SHA-256 of each model file the wheel installed, by file name."""
    folder = models_folder()
    found = {}
    for filename in MODELS.values():
        path = folder / filename
        if not path.is_file():
            raise ValueError(f"rapidocr: {path} is missing: reinstall rapidocr (its wheel has it)")
        found[filename] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def provenance() -> dict[str, Any]:
    """Where the models came from, for `darkroom models list` and the step's output."""
    return {
        "what": "PP-OCR text detection, orientation and recognition (RapidOCR)",
        "licence": "Apache-2.0 (PaddleOCR's models, RapidOCR's code)",
        "package": "rapidocr",
        "version": metadata.version("rapidocr"),
        "models": model_digests(),
    }


class RapidOcrReader:
    """The TextReader port over RapidOCR."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        try:
            self.options = RapidOcrOptions.model_validate(options or {})
        except ValidationError as exc:
            raise ValueError(f"rapidocr options: {exc}") from None
        from rapidocr import RapidOCR

        folder = models_folder()
        digests = model_digests()
        params: dict[str, Any] = {
            "Global.log_level": "warning",
            "Global.use_cls": self.options.rotated,
            "Det.limit_type": "max",
            "Det.limit_side_len": self.options.side,
            "EngineConfig.onnxruntime.intra_op_num_threads": self.options.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        for section, filename in MODELS.items():
            params[f"{section}.model_path"] = str(folder / filename)
        self.engine = RapidOCR(params=params)
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        short = ",".join(digests[filename][:8] for filename in MODELS.values())
        self.name = f"rapidocr@{metadata.version('rapidocr')}:PP-OCRv6[{short}]"

    def read(self, pixels: Any) -> list[TextLine]:
        picture = np.ascontiguousarray(pixels)
        height, width = picture.shape[:2]
        # RapidOCR takes OpenCV's channel order.
        answer: Any = self.engine(picture[..., ::-1].copy())  # det, cls and rec: RapidOCROutput
        if answer.boxes is None or answer.txts is None or answer.scores is None:
            return []
        lines = []
        for quad, text, score in zip(answer.boxes, answer.txts, answer.scores, strict=True):
            confidence = 100.0 * float(score)
            if not text.strip() or confidence < self.options.min_confidence:
                continue
            xs, ys = np.asarray(quad)[:, 0], np.asarray(quad)[:, 1]
            left, top = max(0.0, float(xs.min())), max(0.0, float(ys.min()))
            right, bottom = min(float(width), float(xs.max())), min(float(height), float(ys.max()))
            box = (left / width, top / height, (right - left) / width, (bottom - top) / height)
            lines.append(TextLine(text.strip(), confidence, box))
        return lines  # RapidOCR's order: top to bottom, left to right
