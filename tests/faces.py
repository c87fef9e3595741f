"""Real photographs with faces, from test-only packages, and pictures made from them: two faces
side by side, a face at the very edge, and photographs with no face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def astronaut() -> Image.Image:
    """scikit-image's astronaut: Eileen Collins, one frontal face, 512 x 512."""
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


def grace_hopper() -> Image.Image:
    """matplotlib's sample photograph of Grace Hopper, 512 x 600."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as opened:
        return opened.convert("RGB")


def two_faces() -> Image.Image:
    """The astronaut made small beside Grace Hopper at full size: Hopper's is the larger face.
    (At 256 px the astronaut's face is about 35 px of 768: under what BlazeFace's 192 px input
    resolves, so the smaller face is kept at 320.)"""
    small = astronaut().resize((320, 320), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (320 + 512, 600), (90, 90, 90))
    canvas.paste(small, (0, 140))
    canvas.paste(grace_hopper(), (320, 0))
    return canvas


def face_at_edge() -> Image.Image:
    """The astronaut cut so her face touches the left and top edges: the padding is clamped."""
    return astronaut().crop((170, 60, 512, 512))


def no_face() -> Image.Image:
    """scikit-image's coffee cup: a photograph with no face in it."""
    import skimage.data

    return Image.fromarray(skimage.data.coffee())


def save_jpeg(picture: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="JPEG", quality=92)
    return path


def mean_colour(data: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(data)) as opened:
        return np.asarray(opened.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(0)
