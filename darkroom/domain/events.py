"""Events in the EventBridge envelope: {id, source, detail-type, time, detail}."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from darkroom.domain.ids import stable_id
from darkroom.domain.records import utcnow

SOURCE_PREFIX = "darkroom."


@dataclass(frozen=True)
class Event:
    id: str
    source: str
    detail_type: str
    time: datetime
    detail: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "detail-type": self.detail_type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "detail": self.detail,
        }


def make_event(origin: str, detail_type: str, detail: dict[str, Any], *, key: str) -> Event:
    """An event whose id is derived from `key`, so a re-run that emits it again sends the same id
    and consumers can drop the repeat."""
    return Event(
        id=stable_id("event", origin, detail_type, key),
        source=SOURCE_PREFIX + origin,
        detail_type=detail_type,
        time=utcnow(),
        detail=detail,
    )
