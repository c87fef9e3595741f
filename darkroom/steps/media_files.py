"""Where a media item's files go, and the original as a local file for the video decoder.

Layout, on files and on S3: clients/{client}/products/{sku}/media/{image|video}/{file}, with
thumbnails and keyframes under clients/{client}/products/{sku}/media/thumbnails/{id}/. The
client is the owner."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from darkroom.steps.base import StepContext

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_segment(value: str) -> str:
    """A client's word (a sku) as one path segment: no separators, no dot-only names."""
    cleaned = _UNSAFE.sub("-", value.strip()).strip("-.")
    return cleaned[:100]


def media_folder(owner: str, sku: str) -> str:
    return f"clients/{owner}/products/{safe_segment(sku)}/media"


def derivatives_prefix(ctx: StepContext) -> str:
    """Thumbnails and keyframes: clients/{client}/products/{sku}/media/thumbnails/{id}/"""
    sku = str(ctx.image.metadata.get("sku") or ctx.output_of("product").get("sku") or "")
    if not sku:
        raise ValueError("the media layout needs the product step (client and sku) earlier")
    return f"{media_folder(ctx.image.owner, sku)}/thumbnails/{ctx.image.id}/"


def is_video(ctx: StepContext) -> bool:
    """What validation found, never the type an upload claimed (a text file sent as video/mp4)."""
    return ctx.output_of("validate").get("media") == "video"


@contextmanager
def local_original(ctx: StepContext) -> Iterator[str]:
    """The original as a path: the store's own file when it has one, else a temporary copy
    (FFmpeg reads containers by seeking, not as one stream)."""
    key = ctx.image.location
    path = ctx.ports.blobs.local_path(key)
    if path is not None:
        yield path
        return
    handle, temporary = tempfile.mkstemp(prefix="darkroom-", suffix=os.path.splitext(key)[1])
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(ctx.ports.blobs.get(key))
        yield temporary
    finally:
        os.unlink(temporary)
