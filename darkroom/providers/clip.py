"""CLIP: an image encoder and a text encoder (ONNX, onnxruntime) that put pictures and words in
one space, with the model's own tokenizer (a Hugging Face `tokenizer.json`).

Two providers share the loaded model:
- `ClipEmbedder` (embedding provider `clip`): image vectors for "looks like" search and text
  vectors for text-to-image search, L2-normalised, in the space `clip/<model>/<version>`. The
  version is a digest of the model files, so a different export is a different space.
- `ClipZeroShot` (detector `clip`): the recipe's labels become prompts ("a photo of a {label}"),
  and a picture's cosine similarity to each, times CLIP's logit scale, softmaxed over the labels,
  is each label's confidence in percent.

The model itself (its files, the ONNX sessions, encoding) is in clip_model.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from darkroom.domain.records import Label
from darkroom.providers.clip_model import load, normalised

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(
        default=None,
        description="folder with image.onnx, text.onnx, tokenizer.json, or the name"
        " of a pulled model (DARKROOM_HOME/models/NAME)",
    )
    image_model: str | None = Field(default=None, description="the image encoder .onnx")
    text_model: str | None = Field(default=None, description="the text encoder .onnx")
    tokenizer: str | None = Field(default=None, description="the model's tokenizer.json")
    name: str | None = Field(default=None, description="model name in the embedding space")
    version: str | None = Field(default=None, description="default: digest of the model files")
    size: int | None = Field(default=None, ge=8, le=2048, description="default: from the model")
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    context_length: int | None = Field(default=None, ge=2, le=4096, description="default: 77")
    pad_token: str | None = Field(default=None, description="default: <|endoftext|>")
    image_input: str | None = None
    image_output: str | None = None
    text_output: str | None = None
    threads: int = Field(default=1, ge=1, le=64)
    batch: int = Field(default=16, ge=1, le=1024, description="pictures per inference call")
    threshold: float = Field(
        default=0.85, ge=-1, le=1, description="picture-to-picture similarity that counts as alike"
    )
    text_threshold: float = Field(
        default=0.25, ge=-1, le=1, description="text-to-picture similarity that counts as a match"
    )
    labels: list[str] | dict[str, list[str]] = Field(
        default_factory=list, description="zero-shot labels, or label -> its prompts"
    )
    prompt: str = Field(default="a photo of a {label}", description="prompt for each label")
    logit_scale: float = Field(default=100.0, gt=0, description="CLIP's learned temperature")
    min_confidence: float = Field(default=1.0, ge=0, le=100, description="percent")

    @field_validator("std")
    @classmethod
    def _no_zero_std(cls, std: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(value == 0 for value in std):
            raise ValueError("std values must not be 0")
        return std

    @field_validator("prompt")
    @classmethod
    def _prompt_names_the_label(cls, prompt: str) -> str:
        if "{label}" not in prompt:
            raise ValueError("prompt must contain {label}")
        return prompt


def parse_options(options: dict[str, Any]) -> ClipOptions:
    try:
        return ClipOptions.model_validate(options)
    except ValidationError as exc:
        raise ValueError(f"clip options: {exc}") from None


class ClipEmbedder:
    """Pictures and words in one space: "looks like" and text-to-image search."""

    name = "clip"

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = parse_options(options)
        self.clip = load(self.options)
        self.model = self.clip.name
        self.version = self.clip.version
        self.dim = self.clip.dim
        self.threshold = self.options.threshold
        self.text_threshold = self.options.text_threshold
        self.max_batch = 1 if self.clip.one_at_a_time else self.options.batch

    @property
    def space(self) -> str:
        return f"{self.name}/{self.model}/{self.version}"

    def embed_images(self, pixels: Sequence[Any]) -> Any:
        return self.clip.encode_pictures(pixels, self.options.batch)

    def embed_texts(self, texts: Sequence[str]) -> Any | None:
        return self.clip.encode_texts(texts)


class ClipZeroShot:
    """Zero-shot labels: each label's prompts against the picture, softmaxed over the labels."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = parse_options(options)
        if not self.options.labels:
            raise ValueError("clip detector: give the labels to choose from ('labels')")
        self.clip = load(self.options)
        self.name = f"clip:{self.clip.name}"
        self.max_batch = 1 if self.clip.one_at_a_time else self.options.batch
        labels = self.options.labels
        prompts = (
            {label: list(texts) for label, texts in labels.items()}
            if isinstance(labels, dict)
            else {label: [self.options.prompt.format(label=label)] for label in labels}
        )
        empty = [label for label, texts in prompts.items() if not texts]
        if empty:
            raise ValueError(f"clip detector: labels {empty} have no prompts")
        self.labels = list(prompts)
        # several prompts for one label: the mean of their embeddings (CLIP's prompt ensembling)
        self.targets = normalised(
            np.stack([self.clip.encode_texts(texts).mean(axis=0) for texts in prompts.values()])
        )

    def detect(self, pixels: Any) -> list[Label]:
        return self.detect_batch([pixels])[0]

    def detect_batch(self, pictures: list[Any]) -> list[list[Label]]:
        """Several pictures in one inference call."""
        vectors = self.clip.encode_pictures(pictures, self.options.batch)
        logits = self.options.logit_scale * (vectors @ self.targets.T).astype(np.float64)
        logits = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = logits / logits.sum(axis=1, keepdims=True)
        return [self._labels(row) for row in probabilities]

    def _labels(self, row: Any) -> list[Label]:
        found = [
            Label(label, 100.0 * float(p), provider=self.name)
            for label, p in zip(self.labels, row, strict=True)
        ]
        return sorted(
            (label for label in found if label.confidence >= self.options.min_confidence),
            key=lambda label: -label.confidence,
        )
