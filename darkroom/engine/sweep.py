"""Housekeeping after crashes: what a kill -9 can leave behind, cleared once it is old enough
that no live request can still own it.

- originals under `input/` that no record points at (killed between storing and recording),
- `.tmp-*` files of writes that never finished,
- duplicates whose first image was deleted while they ran (they are promoted, never dropped),
- claims of presigned URLs and idempotency keys that have expired.

Each is counted in `darkroom_orphans_removed_total{kind}`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from darkroom import metrics
from darkroom.engine.lifecycle import promote_duplicates
from darkroom.ports import BlobStore, Catalog, Claims, ListableBlobs, Queue

log = logging.getLogger("darkroom.sweep")

TEMPORARY = ".tmp-"


@dataclass
class Swept:
    originals: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    claims: int = 0

    @property
    def total(self) -> int:
        return len(self.originals) + len(self.temporary) + len(self.duplicates) + self.claims


def sweep(
    catalog: Catalog,
    blobs: BlobStore,
    queue: Queue,
    claims: Claims,
    grace_seconds: float,
    now: float | None = None,
) -> Swept:
    now = now or time.time()
    swept = Swept()
    if isinstance(blobs, ListableBlobs):
        for key, modified in list(blobs.listing("input/")):
            if now - modified < grace_seconds:
                continue  # a request may still be between storing and recording it
            name = key.rsplit("/", 1)[-1]
            if name.startswith(TEMPORARY):
                blobs.remove_listed(key)
                swept.temporary.append(key)
            elif not _recorded(catalog, key):
                blobs.remove_listed(key)
                swept.originals.append(key)
    for duplicate in catalog.orphaned_duplicates():
        # Its first is gone: the oldest of that one's duplicates stands in for it.
        first = duplicate.duplicate_of
        gone = first is not None and catalog.get_image(first) is None
        if gone and promote_duplicates(catalog, blobs, queue, duplicate.owner, first or ""):
            swept.duplicates.append(duplicate.id)
    swept.claims = claims.forget_expired(now)
    for kind, found in (
        ("original", swept.originals),
        ("temporary", swept.temporary),
        ("duplicate", swept.duplicates),
    ):
        if found:
            metrics.ORPHANS_REMOVED.labels(kind).inc(len(found))
            log.info("swept what a crash left", extra={"kind": kind, "count": len(found)})
    return swept


def _recorded(catalog: Catalog, key: str) -> bool:
    """Whether an image record points at `key` (input/{owner}/{image_id}{ext})."""
    stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
    image = catalog.get_image(stem)
    return image is not None and image.location == key
