"""Real photographs that test-only packages ship (scikit-image, matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image


def rgb(name: str) -> Any:
    """A scikit-image sample by name (`chelsea`, `astronaut`...), or `grace_hopper` from
    matplotlib, as RGB uint8 (H, W, 3)."""
    if name == "grace_hopper":
        from matplotlib import cbook

        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        return np.asarray(Image.open(path).convert("RGB"))
    from skimage import data

    picture = np.asarray(getattr(data, name)())
    if picture.ndim == 2:
        picture = np.stack([picture] * 3, axis=-1)
    return picture[..., :3]
