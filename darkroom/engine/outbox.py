"""Publishing from the outbox: events are stored with the change that caused them, then handed
to the bus. A crash in between leaves them stored, and the next sweep sends them."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from darkroom.domain.events import Event
from darkroom.ports import Catalog, EventBus

log = logging.getLogger("darkroom.events")


class Outbox:
    def __init__(self, catalog: Catalog, bus: EventBus) -> None:
        self.catalog = catalog
        self.bus = bus

    def within(self, events: Sequence[Event]) -> list[Event]:
        """Inside a catalog transaction, after the events are stored. A bus that lives in the same
        database publishes here, atomically with the change; otherwise the events are answered
        back, to `publish` once the transaction has committed."""
        if not getattr(self.bus, "transactional", False) or not events:
            return list(events)
        self.bus.publish(events)
        self.catalog.mark_events_published([item.id for item in events])
        return []

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        try:
            self.bus.publish(events)
        except Exception:
            log.exception("event publish failed; the outbox sweep will retry")
            return
        self.catalog.mark_events_published([item.id for item in events])

    def sweep(self, older_than: float = 30.0) -> int:
        """Publish events a crashed process left behind."""
        pending = self.catalog.pending_events(limit=500, older_than=older_than)
        self.publish(pending)
        return len(pending)
