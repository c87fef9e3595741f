"""Retention of the portraits recipe's pictures, enforced by the workers' housekeeping.

Selfies and face crops are kept `selfie_retention_days` (default 7) after the request, then
removed; the portrait itself stays until `result_retention_days` (default 30), when the whole
image goes (record, blobs, index entries) with its request. A request whose upload never came
goes with the selfies. On AWS the same periods are S3 lifecycle rules and DynamoDB TTL.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from darkroom.adapters.sql.portraits import SqlPortraitStore
from darkroom.engine.lifecycle import delete_image
from darkroom.engine.outbox import Outbox
from darkroom.ports import BlobStore, Catalog, DetectionLog, TextIndex, VectorIndex
from darkroom.settings import PortraitSettings
from darkroom.steps.face import crop_key

if TYPE_CHECKING:  # wiring builds the runtime from engine modules
    from darkroom.wiring import Runtime

log = logging.getLogger("darkroom.engine.retention")
DAY = 86_400.0


@dataclass(frozen=True)
class Expired:
    selfies: int = 0
    crops: int = 0
    results: int = 0


def expire_runtime(runtime: Runtime) -> Expired:
    """`expire_portraits` with the runtime's adapters and the settings' periods."""
    if runtime.portraits is None:
        return Expired()
    return expire_portraits(
        runtime.portraits,
        runtime.catalog,
        runtime.blobs,
        runtime.outbox,
        PortraitSettings(),
        (runtime.vectors, runtime.text),
        runtime.detections,
    )


def expire_portraits(
    store: SqlPortraitStore,
    catalog: Catalog,
    blobs: BlobStore,
    outbox: Outbox,
    policy: PortraitSettings,
    indexes: tuple[VectorIndex | TextIndex, ...] = (),
    detections: DetectionLog | None = None,
    now: float | None = None,
) -> Expired:
    now = time.time() if now is None else now
    selfies = crops = results = 0
    for request in store.requests_older_than(now - policy.result_retention_days * DAY):
        image = catalog.get_image(request.image_id, request.owner)
        if image is not None:
            delete_image(catalog, blobs, outbox, image, indexes, detections)
            results += 1
        store.delete_request(request.image_id)
    due = store.selfies_due(now - policy.selfie_retention_days * DAY)
    for request in due:
        image = catalog.get_image(request.image_id, request.owner)
        if image is None:  # the upload never came, or the image was deleted
            store.delete_request(request.image_id)
            continue
        if image.location and blobs.exists(image.location):
            blobs.delete(image.location)
            selfies += 1
        crop = crop_key(image.owner, image.id)
        if blobs.exists(crop):
            blobs.delete(crop)
            crops += 1
    if due:
        store.mark_selfies_expired([request.image_id for request in due])
    if selfies or crops or results:
        log.info(
            "portraits past their retention removed",
            extra={"selfies": selfies, "crops": crops, "results": results},
        )
    return Expired(selfies, crops, results)
