"""Style templates of the `blend` provider: a full-body picture per style, and where its face is.

A folder of templates holds one picture per style, named by it (`casual.jpg`), and optionally
one per style and gender (`casual.female.png`, preferred for that gender). The face region of a
folder template is found with the same face detector as the selfies, or read from a sidecar
`<name>.json` (`{"face": [x, y, w, h]}` in pixels) when the template has no detectable face.

With no folder, darkroom draws its own small set (BUILTIN_STYLES): a backdrop, a figure dressed
in the style's colours and an oval head where the face goes. They are plain drawings, so the
recipe completes out of the box; a real kiosk brings its own photographs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x, y, width, height in pixels
FaceFinder = Callable[[np.ndarray], Box | None]

STYLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
WIDTH, HEIGHT = 512, 768


@dataclass(frozen=True)
class Template:
    style: str
    gender: str | None  # None: for every gender
    picture: np.ndarray  # RGB uint8 (H, W, 3)
    face: Box


@dataclass(frozen=True)
class Palette:
    backdrop: tuple[tuple[int, int, int], tuple[int, int, int]]  # top, bottom (RGB)
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    accent: tuple[int, int, int]
    lights: bool = False  # bokeh lights on the backdrop


BUILTIN_STYLES: dict[str, Palette] = {
    "classic": Palette(
        ((205, 205, 210), (120, 120, 130)), (30, 40, 80), (30, 35, 60), (200, 30, 40)
    ),
    "casual": Palette(
        ((150, 200, 240), (90, 150, 80)), (240, 240, 235), (60, 90, 150), (230, 170, 40)
    ),
    "evening": Palette(
        ((25, 20, 45), (5, 5, 15)), (15, 15, 15), (15, 15, 15), (210, 170, 60), True
    ),
    "sport": Palette(
        ((235, 235, 235), (180, 60, 50)), (200, 30, 30), (30, 30, 30), (250, 250, 250)
    ),
}
HEAD_CENTRE, HEAD_AXES = (WIDTH // 2, 165), (58, 76)


def _bgr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return (rgb[2], rgb[1], rgb[0])


def draw_builtin(style: str, gender: str | None) -> Template:
    """One of darkroom's own templates, drawn here: the same picture for the same arguments."""
    palette = BUILTIN_STYLES[style]
    ramp = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None, None]
    top, bottom = (np.array(_bgr(c), dtype=np.float32) for c in palette.backdrop)
    canvas = np.ascontiguousarray(
        np.broadcast_to(top * (1 - ramp) + bottom * ramp, (HEIGHT, WIDTH, 3)).astype(np.uint8)
    )
    if palette.lights:
        rng = np.random.default_rng(7)
        for _ in range(40):
            x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT // 2))
            cv2.circle(canvas, (x, y), int(rng.integers(4, 14)), _bgr(palette.accent), -1)
        canvas = np.asarray(cv2.GaussianBlur(canvas, (0, 0), 3), dtype=np.uint8)
    skin, cx = (150, 180, 215), WIDTH // 2  # BGR
    cv2.rectangle(canvas, (cx - 22, 225), (cx + 22, 270), skin, -1)  # neck
    torso = np.array([[cx - 120, 270], [cx + 120, 270], [cx + 85, 470], [cx - 85, 470]])
    cv2.fillConvexPoly(canvas, torso, _bgr(palette.top))
    for side in (-1, 1):  # arms
        arm = np.array(
            [
                [cx + side * 120, 270],
                [cx + side * 150, 300],
                [cx + side * 130, 480],
                [cx + side * 100, 480],
            ]
        )
        cv2.fillConvexPoly(canvas, arm, _bgr(palette.top))
        cv2.circle(canvas, (cx + side * 115, 495), 17, skin, -1)  # hands
    if gender == "female":
        skirt = np.array([[cx - 85, 470], [cx + 85, 470], [cx + 130, 650], [cx - 130, 650]])
        cv2.fillConvexPoly(canvas, skirt, _bgr(palette.bottom))
        for side in (-1, 1):
            cv2.rectangle(canvas, (cx + side * 45 - 14, 650), (cx + side * 45 + 14, 730), skin, -1)
    else:
        for side in (-1, 1):
            leg = np.array(
                [
                    [cx + side * 5, 470],
                    [cx + side * 85, 470],
                    [cx + side * 75, 730],
                    [cx + side * 20, 730],
                ]
            )
            cv2.fillConvexPoly(canvas, leg, _bgr(palette.bottom))
    for side in (-1, 1):  # shoes
        cv2.ellipse(canvas, (cx + side * 48, 738), (34, 12), 0, 0, 360, (25, 25, 25), -1)
    cv2.line(canvas, (cx, 275), (cx, 380), _bgr(palette.accent), 8)  # tie, zip or necklace
    cv2.ellipse(canvas, (cx, HEAD_CENTRE[1] - 20), (66, 70), 0, 180, 360, (40, 50, 70), -1)  # hair
    cv2.ellipse(canvas, HEAD_CENTRE, HEAD_AXES, 0, 0, 360, skin, -1)
    face = (
        HEAD_CENTRE[0] - HEAD_AXES[0],
        HEAD_CENTRE[1] - HEAD_AXES[1],
        2 * HEAD_AXES[0],
        2 * HEAD_AXES[1],
    )
    return Template(style, gender, cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB), face)


def _sidecar_face(path: Path) -> Box | None:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    value = json.loads(sidecar.read_text("utf-8")).get("face")
    if not (isinstance(value, list) and len(value) == 4):
        raise ValueError(f"{sidecar}: 'face' must be [x, y, width, height] in pixels")
    x, y, w, h = (int(v) for v in value)
    return (x, y, w, h)


def load_folder(folder: Path, find_face: FaceFinder) -> list[Template]:
    """Every template in the folder, each with its face region; a template whose face cannot be
    found (no face detected and no sidecar) is an error naming it, not a silent skip."""
    if not folder.is_dir():
        raise ValueError(f"blend templates: {folder} is not a folder")
    found: list[Template] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in EXTENSIONS or path.name.startswith("."):
            continue
        style, _, gender = path.stem.partition(".")
        if not STYLE_NAME.match(style):
            raise ValueError(f"blend templates: {path.name}: style names are [a-z0-9_-], 1-64")
        with Image.open(path) as opened:
            picture = np.asarray(opened.convert("RGB"))
        face = _sidecar_face(path) or find_face(picture)
        if face is None:
            raise ValueError(
                f"blend templates: no face found in {path.name}; give its face region in "
                f'{path.with_suffix(".json").name} as {{"face": [x, y, width, height]}}'
            )
        found.append(Template(style, gender or None, picture, face))
    if not found:
        raise ValueError(f"blend templates: no pictures in {folder}")
    return found
