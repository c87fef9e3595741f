"""Amazon Rekognition DetectFaces as a face detector (`rekognition-faces`): one `face` label per
face, its box and confidence as Rekognition gives them, for the portraits recipe's face step."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.domain.errors import Rejected
from darkroom.domain.records import Label
from darkroom.providers.rekognition import BAD_INPUT


class FaceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = None
    endpoint_url: str | None = Field(default=None, description="a VPC endpoint, or a local fake")
    min_confidence: float = Field(default=80.0, ge=0, le=100)
    quality: int = Field(default=90, ge=50, le=100, description="JPEG quality of what is sent")


class RekognitionFaceDetector:
    name = "rekognition-faces"

    def __init__(self, options: dict[str, Any], client: Any = None) -> None:
        import boto3

        try:
            self.options = FaceOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(f"rekognition-faces options: {exc}") from None
        self.client = client or boto3.client(
            "rekognition", region_name=self.options.region, endpoint_url=self.options.endpoint_url
        )

    def detect(self, pixels: Any) -> list[Label]:
        from botocore.exceptions import ClientError

        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(
            out, format="JPEG", quality=self.options.quality
        )
        try:
            answer = self.client.detect_faces(
                Image={"Bytes": out.getvalue()}, Attributes=["DEFAULT"]
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in BAD_INPUT:
                message = exc.response["Error"].get("Message", "")
                raise Rejected(f"rekognition: {code}: {message}") from None
            raise
        return faces_from(answer.get("FaceDetails", []), self.options.min_confidence)


def faces_from(details: list[dict[str, Any]], min_confidence: float) -> list[Label]:
    """Boxes clamped to the picture: Rekognition's may reach past an edge for a cut-off face."""
    found: list[Label] = []
    for detail in details:
        confidence = float(detail.get("Confidence", 0))
        box = detail.get("BoundingBox") or {}
        if confidence < min_confidence or not box:
            continue
        left = min(max(float(box.get("Left", 0)), 0.0), 1.0)
        top = min(max(float(box.get("Top", 0)), 0.0), 1.0)
        right = min(max(float(box.get("Left", 0)) + float(box.get("Width", 0)), 0.0), 1.0)
        bottom = min(max(float(box.get("Top", 0)) + float(box.get("Height", 0)), 0.0), 1.0)
        if right > left and bottom > top:
            found.append(
                Label("face", confidence, (left, top, right - left, bottom - top), "rekognition")
            )
    return found
