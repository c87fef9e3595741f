"""The in-process event bus: events are already durable in the catalog's outbox; publishing
marks them sent and hands them to subscribers (webhook subscriptions come with the HTTP API)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from darkroom.domain.events import Event

log = logging.getLogger("darkroom.events")

Subscriber = Callable[[Event], None]
BatchSubscriber = Callable[[Sequence[Event]], None]


class LocalEventBus:
    # Subscribers write only to the catalog's database (webhook deliveries), so publishing can
    # join the transaction that stores the events: no separate "published" write.
    transactional = True

    def __init__(self) -> None:
        self.subscribers: list[Subscriber] = []
        self.batch_subscribers: list[BatchSubscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def subscribe_many(self, subscriber: BatchSubscriber) -> None:
        """A subscriber that takes each published batch at once (one read of its state)."""
        self.batch_subscribers.append(subscriber)

    def publish(self, events: Sequence[Event]) -> None:
        for item in events:
            log.debug(item.detail_type, extra={"event": item.envelope()})
            for subscriber in self.subscribers:
                subscriber(item)
        for batch_subscriber in self.batch_subscribers:
            batch_subscriber(events)
