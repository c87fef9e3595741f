"""EventBus on EventBridge (eventbridge://BUS_NAME): darkroom's envelope is already
EventBridge-shaped, so a rule's target receives the same id, source, detail-type, time and detail
a local webhook does (EventBridge assigns its own event id; ours travels in `resources`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from darkroom.adapters.aws.clients import client
from darkroom.domain.events import Event

log = logging.getLogger("darkroom.events")

BATCH = 10  # PutEvents' entry limit
ATTEMPTS = 4


class PublishFailed(RuntimeError):
    """Entries EventBridge refused after every attempt; the outbox keeps them for its sweep."""


class EventBridgeBus:
    transactional = False  # publishes after the commit; the outbox sweeps what failed

    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name
        self.events = client("events")

    def entry(self, event: Event) -> dict[str, Any]:
        return {
            "EventBusName": self.bus_name,
            "Source": event.source,
            "DetailType": event.detail_type,
            "Time": event.time,
            "Detail": json.dumps(event.detail, default=str),
            "Resources": [f"darkroom:event:{event.id}"],
        }

    def publish(self, events: Sequence[Event]) -> None:
        for start in range(0, len(events), BATCH):
            self._put([self.entry(event) for event in events[start : start + BATCH]])

    def _put(self, entries: list[dict[str, Any]]) -> None:
        """Failed entries (throttling, internal errors) are sent again, alone, with backoff."""
        for attempt in range(ATTEMPTS):
            answer = self.events.put_events(Entries=entries)
            if not answer.get("FailedEntryCount"):
                return
            results = answer["Entries"]
            failed = [e for e, r in zip(entries, results, strict=True) if "ErrorCode" in r]
            reasons = {r["ErrorCode"] for r in results if "ErrorCode" in r}
            log.warning(
                "EventBridge refused entries",
                extra={"count": len(failed), "codes": sorted(reasons), "attempt": attempt + 1},
            )
            entries = failed
            time.sleep(0.1 * 2**attempt)
        raise PublishFailed(f"{len(entries)} events refused by EventBridge bus {self.bus_name!r}")
