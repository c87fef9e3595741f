"""Notifications on one machine: always a structured log line; a signed webhook when configured."""

from __future__ import annotations

import logging
from typing import Any

from darkroom.adapters.local.webhooks import Target, Webhooks

log = logging.getLogger("darkroom.notify")


class LocalNotifier:
    def __init__(self, webhooks: Webhooks | None = None, target: Target | None = None) -> None:
        self.webhooks = webhooks
        self.target = target

    def notify(self, subject: str, message: dict[str, Any]) -> None:
        log.warning(subject, extra={"notification": message})
        if self.webhooks is not None and self.target is not None:
            key = str(message.get("notification_id") or message)
            self.webhooks.schedule(
                self.target, subject, {"subject": subject, "message": message}, key
            )
