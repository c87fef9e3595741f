"""Face boxes: the largest of those found, and the crop around it (pure arithmetic, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from darkroom.domain.records import Label

PixelBox = tuple[int, int, int, int]  # left, top, width, height


def face_labels(labels: Sequence[Label], names: Sequence[str] | None = None) -> list[Label]:
    """Labels that are faces: those with a box, and a name among `names` when given."""
    wanted = {name.lower() for name in names} if names else None
    return [
        label
        for label in labels
        if label.box is not None and (wanted is None or label.name.lower() in wanted)
    ]


def largest(faces: Sequence[Label]) -> Label | None:
    """The face with the largest box; ties go to the more confident one."""
    boxed = [face for face in faces if face.box is not None]
    if not boxed:
        return None
    return max(boxed, key=lambda f: (f.box[2] * f.box[3], f.confidence))  # type: ignore[index]


def to_pixels(box: tuple[float, float, float, float], width: int, height: int) -> PixelBox:
    left, top, w, h = box
    return (round(left * width), round(top * height), round(w * width), round(h * height))


def padded(box: PixelBox, pad: float, width: int, height: int) -> PixelBox:
    """The box grown by `pad` of its width (height) on the left and right (top and bottom),
    clamped to the picture: a face at an edge gets less room on that side, never pixels that
    do not exist."""
    x, y, w, h = box
    left = max(0, round(x - pad * w))
    top = max(0, round(y - pad * h))
    right = min(width, round(x + w + pad * w))
    bottom = min(height, round(y + h + pad * h))
    return (left, top, max(1, right - left), max(1, bottom - top))
