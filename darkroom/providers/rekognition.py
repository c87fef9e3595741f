"""Amazon Rekognition DetectLabels as a detector: labels with confidence (percent), a box per
instance, and parent labels ("Cat" brings "Animal", "Pet"), mapped to the same records as every
other detector.

Errors that mean the picture is unusable (bad format, too large) reject the image with the
service's reason; throttling and other errors raise, so the engine retries with backoff.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.domain.errors import Rejected
from darkroom.domain.records import Label

BAD_INPUT = {"InvalidImageFormatException", "ImageTooLargeException", "InvalidParameterException"}


class RekognitionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = None
    endpoint_url: str | None = Field(default=None, description="a VPC endpoint, or a local fake")
    max_labels: int = Field(default=20, ge=1, le=1000)
    min_confidence: float = Field(default=50.0, ge=0, le=100)
    parents: bool = Field(default=True, description="also report parent labels")
    quality: int = Field(default=90, ge=50, le=100, description="JPEG quality of what is sent")


class RekognitionDetector:
    def __init__(self, options: dict[str, Any], client: Any = None) -> None:
        import boto3

        try:
            self.options = RekognitionOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(f"rekognition options: {exc}") from None
        self.client = client or boto3.client(
            "rekognition", region_name=self.options.region, endpoint_url=self.options.endpoint_url
        )
        self.name = "rekognition"

    def detect(self, pixels: Any) -> list[Label]:
        from botocore.exceptions import ClientError

        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(
            out, format="JPEG", quality=self.options.quality
        )
        try:
            answer = self.client.detect_labels(
                Image={"Bytes": out.getvalue()},
                MaxLabels=self.options.max_labels,
                MinConfidence=self.options.min_confidence,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in BAD_INPUT:
                raise Rejected(
                    f"rekognition: {code}: {exc.response['Error'].get('Message', '')}"
                ) from None
            raise
        provider = f"rekognition:{answer.get('LabelModelVersion', 'unknown')}"
        return labels_from(answer.get("Labels", []), provider, self.options.parents)


def labels_from(items: list[dict[str, Any]], provider: str, parents: bool) -> list[Label]:
    found: list[Label] = []
    seen: set[str] = set()
    for item in items:
        name, confidence = str(item["Name"]), float(item["Confidence"])
        instances = item.get("Instances") or []
        for instance in instances:
            box = instance.get("BoundingBox") or {}
            found.append(
                Label(
                    name,
                    float(instance.get("Confidence", confidence)),
                    (
                        float(box.get("Left", 0)),
                        float(box.get("Top", 0)),
                        float(box.get("Width", 0)),
                        float(box.get("Height", 0)),
                    ),
                    provider,
                )
            )
        if not instances and name not in seen:  # not already there as another label's parent
            found.append(Label(name, confidence, None, provider))
        seen.add(name)
        if parents:
            for parent in item.get("Parents") or []:
                parent_name = str(parent["Name"])
                if parent_name not in seen:
                    found.append(Label(parent_name, confidence, None, provider))
                    seen.add(parent_name)
    return found
