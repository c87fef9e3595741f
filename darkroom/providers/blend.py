"""The offline `blend` stylist: the visitor's face placed into the style's template picture.

This is a classic blend, not a generative face swap: the face crop is scaled so its face box
matches the template's, its colours are moved towards the template's skin (mean and spread in
Lab), and it is cloned in with OpenCV's seamless cloning (Poisson blending) under an oval mask.
The body, clothes and backdrop are the template's; only the face is the visitor's.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from darkroom.domain.errors import Permanent, Rejected
from darkroom.domain.faces import face_labels, largest, to_pixels
from darkroom.ports import Detector, Stylised
from darkroom.providers.portrait_templates import (
    BUILTIN_STYLES,
    Box,
    Template,
    draw_builtin,
    load_folder,
)
from darkroom.settings import PortraitSettings

# Haar's frontal face cascade tuned for selfies and portraits: smaller faces than pet photos.
HAAR_FACES: dict[str, Any] = {
    "cascades": {"face": "haarcascade_frontalface_default.xml"},
    "scale_factor": 1.1,
    "min_neighbors": 5,
    "min_size": 0.05,
}


class BlendOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    templates: Path | None = Field(default=None, description="folder of templates by style")
    detector: str = Field(default="opencv", description="face detector provider")
    detector_options: dict[str, Any] = Field(default_factory=lambda: dict(HAAR_FACES))
    quality: int = Field(default=90, ge=50, le=100)


def _detector(name: str, options: dict[str, Any]) -> Detector:
    from darkroom.providers.registry import DETECTORS, _imported

    factory = DETECTORS.get(name) or _imported(name)
    if factory is None:
        raise ValueError(f"blend: unknown face detector {name!r}; known: {sorted(DETECTORS)}")
    return factory(options)


class BlendStylist:
    name = "blend"

    def __init__(self, options: dict[str, Any]) -> None:
        try:
            self.options = BlendOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(f"blend options: {exc}") from None
        self.detector = _detector(self.options.detector, self.options.detector_options)
        folder = self.options.templates or PortraitSettings().templates_dir
        self.templates: dict[tuple[str, str | None], Template] = {}
        if folder is not None:
            for template in load_folder(Path(folder), self.find_face):
                self.templates[(template.style, template.gender)] = template
        self.builtin = folder is None

    def find_face(self, picture: np.ndarray) -> Box | None:
        face = largest(face_labels(self.detector.detect(picture)))
        if face is None or face.box is None:
            return None
        return to_pixels(face.box, picture.shape[1], picture.shape[0])

    def styles(self) -> list[str] | None:
        if self.builtin:
            return sorted(BUILTIN_STYLES)
        return sorted({style for style, _ in self.templates})

    def template(self, style: str, gender: str | None) -> Template:
        if self.builtin:
            if style not in BUILTIN_STYLES:
                raise Rejected(
                    f"unknown style {style!r}; known styles: {', '.join(self.styles() or [])}"
                )
            return draw_builtin(style, gender)
        found = self.templates.get((style, gender)) or self.templates.get((style, None))
        if found is None:  # only other genders' variants: any of them beats refusing
            found = next(
                (t for (s, _), t in sorted(self.templates.items(), key=str) if s == style), None
            )
        if found is None:
            raise Rejected(
                f"unknown style {style!r}; known styles: {', '.join(self.styles() or [])}"
            )
        return found

    def stylise(self, face: bytes, style: str, gender: str | None) -> Stylised:
        started = time.perf_counter()
        template = self.template(style, gender)
        with Image.open(io.BytesIO(face)) as opened:
            crop = np.asarray(opened.convert("RGB"))
        # The crop is the face padded by half its size each side, so without a detection the
        # face is its middle half.
        height, width = crop.shape[:2]
        box = self.find_face(crop) or (width // 4, height // 4, width // 2, height // 2)
        result = blend(crop, box, template)
        out = io.BytesIO()
        Image.fromarray(result).save(out, format="JPEG", quality=self.options.quality)
        return Stylised(
            image=out.getvalue(),
            media_type="image/jpeg",
            provider=self.name,
            model_version="builtin-templates" if self.builtin else "templates",
            seconds=time.perf_counter() - started,
            attempts=1,
        )


def match_colours(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`source` with the mean and spread of `reference` in Lab (Reinhard's colour transfer),
    lightness moved only halfway so the face keeps its own shading."""
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    src_mean, src_std = src.reshape(-1, 3).mean(0), src.reshape(-1, 3).std(0) + 1e-3
    ref_mean, ref_std = ref.reshape(-1, 3).mean(0), ref.reshape(-1, 3).std(0) + 1e-3
    weight = np.array([0.5, 1.0, 1.0], dtype=np.float32)
    target_mean = src_mean + weight * (ref_mean - src_mean)
    target_std = src_std + weight * (np.maximum(ref_std, src_std * 0.5) - src_std)
    moved = (src - src_mean) / src_std * target_std + target_mean
    return np.asarray(cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB))


def blend(crop: np.ndarray, face: Box, template: Template) -> np.ndarray:
    """The template with the crop's face cloned over its face region."""
    canvas = np.ascontiguousarray(template.picture)
    th, tw = canvas.shape[:2]
    fx, fy, fw, fh = face
    tx, ty, twf, thf = template.face
    scale = min(twf / max(fw, 1), thf / max(fh, 1))
    scaled = cv2.resize(
        crop,
        (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
    )
    # Where the scaled face's centre lands: the template face's centre.
    cx, cy = tx + twf / 2, ty + thf / 2
    ox = round(cx - (fx + fw / 2) * scale)
    oy = round(cy - (fy + fh / 2) * scale)
    source = canvas.copy()
    sx0, sy0 = max(0, ox), max(0, oy)
    sx1 = min(tw, ox + scaled.shape[1])
    sy1 = min(th, oy + scaled.shape[0])
    if sx1 - sx0 < 8 or sy1 - sy0 < 8:
        raise Permanent("blend: the template's face region is outside its picture")
    source[sy0:sy1, sx0:sx1] = scaled[sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox]
    mask = np.zeros((th, tw), dtype=np.uint8)
    axes = (max(4, round(twf * 0.5)), max(4, round(thf * 0.55)))
    centre = (round(cx), round(cy))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    mask[:sy0, :] = 0
    mask[sy1:, :] = 0
    mask[:, :sx0] = 0
    mask[:, sx1:] = 0
    mask[:1, :] = mask[-1:, :] = 0  # seamlessClone needs a border around the mask
    mask[:, :1] = mask[:, -1:] = 0
    region = mask > 0
    if region.sum() < 64:
        raise Permanent("blend: the template's face region is too small")
    patch = source[region].reshape(-1, 1, 3)
    reference = canvas[region].reshape(-1, 1, 3)
    source[region] = match_colours(patch, reference).reshape(-1, 3)
    ys, xs = np.nonzero(mask)
    middle = ((int(xs.min()) + int(xs.max()) + 1) // 2, (int(ys.min()) + int(ys.max()) + 1) // 2)
    cloned = cv2.seamlessClone(
        cv2.cvtColor(source, cv2.COLOR_RGB2BGR),
        cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR),
        mask,
        middle,
        cv2.NORMAL_CLONE,
    )
    return cv2.cvtColor(cloned, cv2.COLOR_BGR2RGB)
