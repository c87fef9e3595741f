"""face: find the faces, keep the largest, store a crop around it padded by half its size on
each side (clamped to the picture). No face ends the job `rejected` with "no face found" at
once; several faces keep the largest and record how many there were.

The detector is the recipe's choice (`provider`): any detector provider whose labels carry
boxes (Haar's frontal face cascade as `opencv`, Rekognition DetectFaces as `rekognition-faces`,
an ONNX face model), so a better one is a line of YAML.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from darkroom import imaging
from darkroom.domain.errors import Rejected
from darkroom.domain.faces import face_labels, largest, padded, to_pixels
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class FaceSettings(StepSettings):
    provider: str = Field(default="opencv", description="face detector provider")
    options: dict[str, Any] = Field(default_factory=dict, description="provider settings")
    labels: list[str] | None = Field(
        default=None, description="label names that are faces; none: every boxed label"
    )
    size: int = Field(default=640, ge=64, le=4096, description="long side the detector sees")
    pad: float = Field(default=0.5, ge=0, le=2, description="share of the box added each side")
    crop_size: int = Field(default=1024, ge=64, le=4096, description="long side of the crop")
    quality: int = Field(default=90, ge=50, le=100)


def crop_key(owner: str, image_id: str) -> str:
    # Apart from the portraits: crops expire with the selfies, sooner (an S3 lifecycle prefix).
    return f"faces/{owner}/{image_id}/face.jpg"


def run(ctx: StepContext, settings: FaceSettings) -> StepResult:
    detector = ctx.ports.providers.detector(settings.provider, settings.options)
    seen = pixels.fitted(ctx, settings.size)
    faces = face_labels(detector.detect(imaging.to_array(seen)), settings.labels)
    chosen = largest(faces)
    if chosen is None or chosen.box is None:
        raise Rejected("no face found")
    # Crop from a larger decode than the detector saw: the crop is what the model works from.
    source = pixels.fitted(ctx, max(settings.size, settings.crop_size * 2))
    width, height = source.size
    left, top, w, h = padded(to_pixels(chosen.box, width, height), settings.pad, width, height)
    crop = source.crop((left, top, left + w, top + h))
    if max(crop.size) > settings.crop_size:
        crop.thumbnail((settings.crop_size, settings.crop_size))
    key = crop_key(ctx.image.owner, ctx.image.id)
    ctx.ports.blobs.put(key, imaging.encode_jpeg(crop, settings.quality), content_type="image/jpeg")
    return StepResult(
        output={
            "provider": detector.name,
            "faces": len(faces),
            "face": chosen.to_json(),
            "crop": key,
            "crop_box": [
                round(left / width, 4),
                round(top / height, 4),
                round(w / width, 4),
                round(h / height, 4),
            ],
            "crop_size": list(crop.size),
        },
        image={"labels": sorted(faces, key=lambda f: f.confidence, reverse=True)},
    )


STEP = StepDefinition(
    name="face",
    run=run,
    settings=FaceSettings,
    event="FaceFound",
    needs=("validate",),
    description="the largest face, cropped with 50% padding (no face: rejected at once)",
)
