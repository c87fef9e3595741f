"""Any ImageNet-style ONNX image classifier, as a detector.

Preprocessing is settings, not code: input size, resize (center crop as torchvision's `Resize
(size/0.875) + CenterCrop(size)`, or stretch), pixel scale, mean and std, layout. `groups` turn
the model's classes into the recipe's labels by summing their probabilities. For ImageNet,
classes 281-285 are cats and 151-268 dogs, so `{"cat": ["281-285"], "dog": ["151-268"]}` gives
a cat/dog detector. Without groups, the top-k class names come back as labels.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from darkroom.domain.records import Label


class OnnxClassifierOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="path to the .onnx file")
    labels: str | None = Field(
        default=None, description="class names: one per line, or a JSON list"
    )
    size: int = Field(default=224, ge=8, le=4096)
    resize: Literal["crop", "stretch"] = "crop"
    scale: float = Field(default=1 / 255, gt=0)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    softmax: bool = Field(default=True, description="the model answers logits (not probabilities)")
    groups: dict[str, list[str | int]] = Field(default_factory=dict)
    top_k: int = Field(default=5, ge=1, le=1000)
    names_with_groups: bool = Field(
        default=False, description="with groups, also the top-k class names as labels"
    )
    min_confidence: float = Field(default=1.0, ge=0, le=100, description="percent")
    threads: int = Field(default=1, ge=1, le=64)

    @field_validator("std")
    @classmethod
    def _no_zero_std(cls, std: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(value == 0 for value in std):
            raise ValueError("std values must not be 0")
        return std


def class_indices(spec: list[str | int], names: list[str] | None, classes: int) -> list[int]:
    """'281-285' ranges, single indices, or class names, as indices."""
    found: list[int] = []
    for item in spec:
        text = str(item).strip()
        if isinstance(item, int) or text.isdigit():
            found.append(int(text))
        elif "-" in text and all(part.strip().isdigit() for part in text.split("-", 1)):
            low, high = (int(part) for part in text.split("-", 1))
            found.extend(range(low, high + 1))
        elif names is not None and text in names:
            found.append(names.index(text))
        else:
            raise ValueError(
                f"onnx classifier: group member {item!r} is no class index, range or name"
            )
    bad = [index for index in found if not 0 <= index < classes]
    if bad:
        raise ValueError(f"onnx classifier: class indices {bad[:5]} outside 0-{classes - 1}")
    return sorted(set(found))


def read_labels(path: str) -> list[str]:
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return [str(name) for name in json.loads(text)]
    return [line.strip() for line in text.splitlines() if line.strip()]


class OnnxClassifier:
    def __init__(self, options: dict[str, Any]) -> None:
        import onnxruntime

        try:
            self.options = OnnxClassifierOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(f"onnx classifier options: {exc}") from None
        path = self.options.model
        if not os.path.isfile(path):
            raise ValueError(f"onnx classifier: no model file at {path!r}")
        settings = onnxruntime.SessionOptions()
        settings.intra_op_num_threads = self.options.threads
        settings.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            path, settings, providers=["CPUExecutionProvider"]
        )
        first = self.session.get_inputs()[0]
        self.input = first.name
        # Pictures per inference call: a model exported with a fixed batch of 1 takes one.
        self.max_batch = 1 if first.shape and first.shape[0] == 1 else 32
        self.name = f"onnx:{Path(path).stem}"
        self.names = read_labels(self.options.labels) if self.options.labels else None
        probe = self._run(np.zeros((1, self.options.size, self.options.size, 3), np.uint8))
        self.classes = int(probe.shape[-1])
        if self.names is not None and len(self.names) != self.classes:
            raise ValueError(
                f"onnx classifier: {len(self.names)} labels for {self.classes} classes"
            )
        self.groups = {
            label: class_indices(spec, self.names, self.classes)
            for label, spec in self.options.groups.items()
        }

    def _prepare(self, pixels: Any) -> Any:
        size = self.options.size
        image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
        if self.options.resize == "crop":
            short = round(size / 0.875)
            scale = short / min(image.size)
            image = image.resize(
                (max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                Image.Resampling.BILINEAR,
            )
            left, top = (image.width - size) // 2, (image.height - size) // 2
            image = image.crop((left, top, left + size, top + size))
        else:
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(image)

    def _run(self, batch: Any) -> Any:
        data = batch.astype(np.float32) * self.options.scale
        data = (data - np.asarray(self.options.mean, np.float32)) / np.asarray(
            self.options.std, np.float32
        )
        if self.options.layout == "NCHW":
            data = data.transpose(0, 3, 1, 2)
        outputs = self.session.run(None, {self.input: np.ascontiguousarray(data)})[0]
        scores = np.asarray(outputs, dtype=np.float64).reshape(batch.shape[0], -1)
        if self.options.softmax:
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = scores / scores.sum(axis=1, keepdims=True)
        return scores

    def detect(self, pixels: Any) -> list[Label]:
        return self.detect_batch([pixels])[0]

    def detect_batch(self, pictures: list[Any]) -> list[list[Label]]:
        """Several pictures in one inference call (`max_batch` at a time)."""
        found: list[list[Label]] = []
        for start in range(0, len(pictures), self.max_batch):
            chunk = pictures[start : start + self.max_batch]
            probabilities = self._run(np.stack([self._prepare(p) for p in chunk]))
            found.extend(self._labels(row) for row in probabilities)
        return found

    def _labels(self, row: Any) -> list[Label]:
        floor = self.options.min_confidence
        found: list[Label] = []
        if self.groups:
            found = [
                Label(label, 100.0 * float(row[indices].sum()), provider=self.name)
                for label, indices in self.groups.items()
            ]
        if not self.groups or (self.options.names_with_groups and self.names):
            top = np.argsort(-row)[: self.options.top_k]
            found += [
                Label(
                    self.names[i] if self.names else str(i),
                    100.0 * float(row[i]),
                    provider=self.name,
                )
                for i in top
            ]
        # With names beside them, every group is kept: "cat 0.4" is what makes "other" 99.6.
        kept = set(self.groups) if self.options.names_with_groups else set()
        return sorted(
            (label for label in found if label.confidence >= floor or label.name in kept),
            key=lambda label: -label.confidence,
        )
