"""The retrieval benchmark's labelled set (bench/retrieval.py runs it): scikit-image's sample
photos and generated scenes, each with a short caption; the text queries with the scenes they
should find, the queries that must find nothing; and the variants a picture is ingested and
asked with.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

INDEXED = ("original", "half", "crop", "jpeg-q30")  # what is ingested: the relevant set
HELD_OUT = ("bright", "warm", "flip", "crop-off", "small")  # what "looks like" asks with


# --- the scenes --------------------------------------------------------------------------------


def _grain(pixels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = pixels.astype(np.int16) + rng.integers(-8, 9, pixels.shape, dtype=np.int16)
    return np.asarray(np.clip(noisy, 0, 255), dtype=np.uint8)


def _canvas(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    """A 480x360 vertical gradient from `top` to `bottom`."""
    t = np.linspace(0, 1, 360, dtype=np.float32)[:, None, None]
    column = np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t
    return Image.fromarray(np.repeat(column, 480, axis=1).astype(np.uint8))


def sunset() -> np.ndarray:
    img = _canvas((250, 120, 40), (120, 40, 110))
    draw = ImageDraw.Draw(img)
    draw.ellipse((190, 150, 290, 250), fill=(255, 220, 60))
    draw.rectangle((0, 240, 480, 360), fill=(20, 30, 70))
    return _grain(np.asarray(img), 1)


def barn() -> np.ndarray:
    img = _canvas((90, 150, 230), (170, 210, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 200, 480, 360), fill=(60, 150, 50))
    draw.rectangle((170, 130, 310, 260), fill=(180, 30, 25))
    draw.polygon([(160, 130), (240, 80), (320, 130)], fill=(70, 40, 30))
    draw.rectangle((220, 200, 260, 260), fill=(240, 240, 230))
    return _grain(np.asarray(img), 2)


def city() -> np.ndarray:
    img = _canvas((5, 10, 40), (20, 25, 60))
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(3)
    x = 0
    while x < 480:
        width, height = int(rng.integers(40, 90)), int(rng.integers(120, 320))
        draw.rectangle((x, 360 - height, x + width - 4, 360), fill=(35, 35, 45))
        for wy in range(370 - height, 350, 18):
            for wx in range(x + 6, x + width - 12, 14):
                if rng.random() < 0.45:
                    draw.rectangle((wx, wy, wx + 6, wy + 9), fill=(250, 210, 90))
        x += width
    return _grain(np.asarray(img), 3)


def beach() -> np.ndarray:
    img = _canvas((170, 215, 245), (210, 235, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 150, 480, 240), fill=(40, 180, 190))
    draw.polygon([(0, 240), (480, 220), (480, 360), (0, 360)], fill=(225, 200, 150))
    return _grain(np.asarray(img), 4)


def mountains() -> np.ndarray:
    img = _canvas((40, 100, 200), (150, 190, 235))
    draw = ImageDraw.Draw(img)
    draw.polygon([(-40, 300), (130, 90), (300, 300)], fill=(110, 110, 120))
    draw.polygon([(150, 300), (330, 60), (520, 300)], fill=(95, 95, 110))
    draw.polygon([(95, 133), (130, 90), (165, 133)], fill=(250, 250, 250))
    draw.polygon([(285, 120), (330, 60), (375, 120)], fill=(250, 250, 250))
    draw.rectangle((0, 300, 480, 360), fill=(70, 90, 60))
    return _grain(np.asarray(img), 5)


def _sample(name: str, pick: Callable[[object], object] | None = None) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        from skimage import data

        picture = getattr(data, name)()
        if pick is not None:
            picture = pick(picture)
        return np.asarray(Image.fromarray(np.asarray(picture)).convert("RGB"))

    return make


@dataclass(frozen=True)
class Scene:
    name: str
    caption: str  # indexed as the image's `caption` metadata: the words it is found by
    hint: str  # the word a hybrid query adds to the picture (often shared with other scenes)
    make: Callable[[], np.ndarray]


SCENES = [  # the quick run takes the first eight
    Scene("astronaut", "astronaut in a white space suit beside the american flag", "white",
          _sample("astronaut")),
    Scene("chelsea", "ginger tabby cat resting on a blanket", "cat", _sample("chelsea")),
    Scene("coffee", "cup of coffee with latte art on a red table", "red", _sample("coffee")),
    Scene("rocket", "rocket on the launch pad under a blue sky", "sky", _sample("rocket")),
    Scene("coins", "old silver coins scattered in rows, black and white", "black",
          _sample("coins")),
    Scene("sunset", "sunset over the sea with an orange sky and a yellow sun", "sea", sunset),
    Scene("barn", "red barn in a green field under a blue sky", "sky", barn),
    Scene("city", "city at night with lit windows", "night", city),
    Scene("camera", "black and white portrait of a man with a camera on a tripod", "black",
          _sample("camera")),
    Scene("moon", "grey surface of the moon with craters", "grey", _sample("moon")),
    Scene("hubble", "galaxies and stars in the deep night sky", "night",
          _sample("hubble_deep_field")),
    Scene("tissue", "stained tissue cells under a microscope", "cells",
          _sample("immunohistochemistry")),
    Scene("motorcycle", "red motorcycle parked in a garage", "red",
          _sample("stereo_motorcycle", lambda pair: pair[0])),  # type: ignore[index]
    Scene("colorwheel", "colour wheel with every hue on white", "white", _sample("colorwheel")),
    Scene("page", "scanned page of printed text, black and white", "black", _sample("page")),
    Scene("retina", "retina of an eye, a red fundus photo", "red", _sample("retina")),
    Scene("brick", "grey brick wall", "grey", _sample("brick")),
    Scene("beach", "sandy beach by a turquoise sea", "sea", beach),
    Scene("mountains", "snowy mountains under a blue sky", "sky", mountains),
]  # fmt: skip

# Words of the captions, judged by hand: the scenes each query should find.
TEXT_QUERIES: list[tuple[str, set[str]]] = [
    ("cat", {"chelsea"}),
    ("tabby cat", {"chelsea"}),
    ("Coffee", {"coffee"}),
    ("launch pad", {"rocket"}),
    ("astronaut flag", {"astronaut"}),
    ("blue sky", {"rocket", "barn", "mountains"}),
    ("sky", {"rocket", "sunset", "barn", "hubble", "mountains"}),
    ("red", {"coffee", "barn", "motorcycle", "retina"}),
    ("black and white", {"coins", "camera", "page"}),
    ("silver coins", {"coins"}),
    ("moon craters", {"moon"}),
    ("night", {"city", "hubble"}),
    ("lit windows", {"city"}),
    ("microscope", {"tissue"}),
    ("sea", {"sunset", "beach"}),
    ("printed text", {"page"}),
    ("tripod", {"camera"}),
    ("motorcycle garage", {"motorcycle"}),
    ("brick wall", {"brick"}),
]
# Other forms of caption words: what a person types, not what was written.
INFLECTED_QUERIES: list[tuple[str, set[str]]] = [
    ("cats", {"chelsea"}),
    ("galaxy", {"hubble"}),
    ("coin", {"coins"}),
    ("crater", {"moon"}),
    ("window", {"city"}),
    ("mountain", {"mountains"}),
]
# In no caption (or never together): the answer must be empty.
NEGATIVE_WORDS = ["submarine", "volcano", "guitar", "zebra", "cat moon", "pizza coffee"]


def negative_pictures() -> list[Image.Image]:
    """Pictures like nothing in the set: noise, a plain field, patterns, smooth colour blobs."""
    rng = np.random.default_rng(99)
    noise = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    plain = Image.new("RGB", (400, 300), (120, 160, 90))
    checks = np.kron((np.indices((15, 20)).sum(axis=0) % 2) * 255, np.ones((20, 20)))
    board = Image.fromarray(checks.astype(np.uint8)).convert("RGB")
    y, x = np.mgrid[0:300, 0:400]
    stripes = np.where(((x + y) // 15 % 2 == 0)[..., None], [200, 40, 200], [40, 200, 60])
    blobs = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
        (400, 300), Image.Resampling.BICUBIC
    )
    return [noise, plain, board, Image.fromarray(stripes.astype(np.uint8)), blobs]


# --- the variants ------------------------------------------------------------------------------


def variant(picture: Image.Image, kind: str) -> bytes:
    """The picture as one variant's file: JPEG, except `small` (PNG)."""
    width, height = picture.size
    quality, fmt = 90, "JPEG"
    if kind == "half":
        picture = picture.resize((width // 2, height // 2), Image.Resampling.LANCZOS)
    elif kind == "crop":
        dx, dy = width // 20, height // 20
        picture = picture.crop((dx, dy, width - dx, height - dy))
    elif kind == "jpeg-q30":
        quality = 30
    elif kind == "bright":  # 15% brighter
        picture = ImageEnhance.Brightness(picture).enhance(1.15)
    elif kind == "warm":  # a slight colour cast: red up, blue down by 8 of 255
        r, g, b = picture.split()
        picture = Image.merge(
            "RGB", (r.point(lambda v: min(255, v + 8)), g, b.point(lambda v: max(0, v - 8)))
        )
    elif kind == "flip":
        picture = ImageOps.mirror(picture)
    elif kind == "crop-off":
        picture = picture.crop((0, 0, int(width * 0.8), int(height * 0.8)))
    elif kind == "small":
        picture, fmt = picture.resize((width // 4, height // 4), Image.Resampling.BILINEAR), "PNG"
    elif kind != "original":
        raise ValueError(kind)
    out = io.BytesIO()
    picture.save(out, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()
