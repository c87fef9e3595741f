"""The housekeeping sweep clears what a kill -9 leaves, and only that (issue #13 item 5)."""

from __future__ import annotations

import io
import os
import time

from darkroom import metrics
from darkroom.domain.ids import new_id
from darkroom.domain.records import ImageStatus
from darkroom.engine.worker import sweep_orphans
from darkroom.wiring import Runtime
from tests import images
from tests.conftest import drain

HOUR = 3600


def _age(runtime: Runtime, key: str, seconds: float) -> None:
    path = runtime.settings.home / key
    old = time.time() - seconds
    os.utime(path, (old, old))


def _removed(kind: str) -> float:
    return metrics.ORPHANS_REMOVED.labels(kind)._value.get()  # type: ignore[attr-defined]


def test_sweep_removes_old_orphans_and_keeps_everything_recorded(runtime: Runtime) -> None:
    blobs = runtime.blobs
    orphan, young, tmp = (
        f"input/alice/{new_id()}.jpg",
        f"input/alice/{new_id()}.jpg",
        "input/alice/.tmp-abc123",
    )
    for key in (orphan, young):
        blobs.put(key, b"left by a crash")
    (runtime.settings.home / tmp).write_bytes(b"half a write")
    data = images.jpeg_bytes(images.photo(64, 64, seed=1))
    kept = runtime.intake.accept_stream(
        io.BytesIO(data), filename="a.jpg", owner="alice", recipe="colour-pets"
    ).image
    for key in (orphan, tmp, kept.location):
        _age(runtime, key, 2 * HOUR)
    before = (_removed("original"), _removed("temporary"))

    swept = sweep_orphans(runtime)

    assert swept.originals == [orphan] and swept.temporary == [tmp]
    assert not blobs.exists(orphan) and not (runtime.settings.home / tmp).exists()
    assert blobs.exists(young), "younger than the grace period: a request may still own it"
    assert blobs.exists(kept.location), "recorded: never an orphan"
    assert (_removed("original"), _removed("temporary")) == (before[0] + 1, before[1] + 1)
    assert sweep_orphans(runtime).total == 0  # nothing twice


def test_a_duplicate_of_a_vanished_image_is_promoted_not_lost(runtime: Runtime) -> None:
    data = images.jpeg_bytes(images.photo(64, 64, seed=2))
    intake = runtime.intake
    first = intake.accept_stream(
        io.BytesIO(data), filename="a.jpg", owner="alice", recipe="colour-pets"
    ).image
    drain(runtime)
    copy = intake.accept_stream(
        io.BytesIO(data), filename="b.jpg", owner="alice", recipe="colour-pets"
    ).image
    drain(runtime)
    assert runtime.catalog.get_image(copy.id).status is ImageStatus.DUPLICATE  # type: ignore[union-attr]
    # The first's record went while the copy's job ran (a delete racing the hash step).
    runtime.catalog.delete_image(first.id)

    swept = sweep_orphans(runtime)
    assert swept.duplicates == [copy.id]
    drain(runtime)
    promoted = runtime.catalog.get_image(copy.id)
    assert promoted is not None
    assert promoted.status is ImageStatus.COMPLETED and promoted.duplicate_of is None
    assert runtime.blobs.get(promoted.location) == data
