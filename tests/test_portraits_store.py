"""Consents and portrait requests on SQLite and PostgreSQL: answers replace each other, owners
never see each other's visitors, and the latest portrait is the latest *completed* one."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from darkroom.domain.portraits import PortraitRequest
from darkroom.domain.records import Image, ImageStatus
from darkroom.wiring import Runtime

BOTH_BACKENDS = True
VISITOR = "ünï-côdé.visitor-" + "x" * 900  # long and non-ASCII: stored whole


def test_consent_answers_replace_each_other_per_owner(runtime: Runtime) -> None:
    store = runtime.portraits
    assert store is not None
    first = store.record_consent("shop-a", VISITOR, "Zoë", True, "key1")
    assert first.agreed and first.name == "Zoë" and first.recorded_by == "key1"
    assert store.consent("shop-b", VISITOR) is None
    assert store.consent("shop-a", VISITOR[:-1]) is None  # a prefix is another visitor
    withdrawn = store.record_consent("shop-a", VISITOR, None, False, "key2")
    assert not withdrawn.agreed and withdrawn.name is None and withdrawn.recorded_by == "key2"
    assert withdrawn.agreed_at == first.agreed_at and withdrawn.withdrawn_at is not None
    again = store.record_consent("shop-a", VISITOR, "Zoë", True, "key1")
    assert again.agreed and again.withdrawn_at is None
    assert store.consent("shop-a", VISITOR) == again


def _job(runtime: Runtime, image_id: str, status: ImageStatus, at: float, created: float) -> None:
    assert runtime.portraits is not None
    runtime.catalog.add_image(
        Image(
            id=image_id,
            owner="shop-a",
            recipe="portraits",
            filename="selfie",
            location=f"input/shop-a/{image_id}.jpg",
            status=status,
            updated_at=datetime.fromtimestamp(at, UTC),
        )
    )
    runtime.portraits.add_request(
        PortraitRequest(image_id, "shop-a", VISITOR, "casual", None, created)
    )


def test_the_latest_portrait_is_the_latest_completed(runtime: Runtime) -> None:
    store = runtime.portraits
    assert store is not None
    now = time.time()
    assert store.latest_completed("shop-a", VISITOR) is None
    _job(runtime, "a" * 32, ImageStatus.COMPLETED, now - 50, now - 60)
    _job(runtime, "b" * 32, ImageStatus.FAILED, now - 30, now - 40)  # newer, failed
    _job(runtime, "c" * 32, ImageStatus.PROCESSING, now - 10, now - 20)  # newer, still running
    latest = store.latest_completed("shop-a", VISITOR)
    assert latest is not None and latest.request.image_id == "a" * 32
    runtime.catalog.update_image("c" * 32, status=ImageStatus.COMPLETED)  # it completes
    latest = store.latest_completed("shop-a", VISITOR)
    assert latest is not None and latest.request.image_id == "c" * 32
    assert store.latest_completed("shop-b", VISITOR) is None
    # A request whose upload has not arrived shows in the history with no status.
    store.add_request(PortraitRequest("d" * 32, "shop-a", VISITOR, "sport", "male", now))
    history = store.portraits("shop-a", VISITOR)
    assert [row.request.image_id for row in history] == ["d" * 32, "c" * 32, "b" * 32, "a" * 32]
    assert [row.status for row in history] == [None, "completed", "failed", "completed"]
    assert store.delete_requests("shop-a", VISITOR) == 4
    assert store.portraits("shop-a", VISITOR) == []


def test_the_visitors_events_and_deliveries_are_forgotten(runtime: Runtime) -> None:
    from darkroom.adapters.local.webhooks import Target
    from darkroom.domain.events import make_event

    store = runtime.portraits
    assert store is not None

    def ready(owner: str, user_id: str, n: int) -> Any:
        detail = {"image_id": f"{n:032}", "owner": owner, "user_id": user_id}
        return make_event("engine", "PortraitReady", detail, key=str(n))

    mine = [ready("shop-a", VISITOR, 1), ready("shop-a", VISITOR, 2)]
    others = [ready("shop-a", VISITOR + "-2", 3), ready("shop-b", VISITOR, 4)]
    runtime.catalog.add_events([*mine, *others])
    for event in [*mine, *others]:
        owner = event.detail["owner"]
        target = Target("http://127.0.0.1:9/hook", None, "sub-" + owner, owner)
        runtime.webhooks.schedule(target, event.detail_type, event.envelope(), event.id)
    assert store.forget_events("shop-a", VISITOR) == 4  # two events, two deliveries
    left = {e.id for e in runtime.catalog.pending_events(limit=100)}
    assert left == {e.id for e in others}
    assert store.forget_events("shop-a", VISITOR) == 0
