"""The portraits recipe's records: a visitor's consent and the portraits they asked for.

A user id is the kiosk's own, opaque string: hyphens, dots, non-ASCII and long ids are all one
id. It is never split, never parsed, and never part of a storage key (keys are built from image
ids only), so no id can reach another visitor's files or escape a folder.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from darkroom.domain.errors import Refused

MAX_USER_ID = 1024

# The metadata keys an upload for a consent-checked recipe carries.
USER_ID = "user_id"
STYLE = "style"
GENDER = "gender"


class ConsentRefused(Refused):
    """The visitor has no current consent: nothing may be stored for them (HTTP 403)."""


def check_user_id(value: object) -> str:
    """The id as given, or ValueError with the reason. Control characters are refused because
    they would forge log lines; anything else printable is an id."""
    if not isinstance(value, str) or not value:
        raise ValueError("user_id must be a non-empty string")
    if len(value) > MAX_USER_ID:
        raise ValueError(f"user_id is longer than {MAX_USER_ID} characters")
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in value):
        raise ValueError("user_id must not contain control characters")
    return value


@dataclass(frozen=True)
class Consent:
    owner: str
    user_id: str
    name: str | None
    agreed: bool
    recorded_at: float
    recorded_by: str  # id of the API key that recorded the answer
    agreed_at: float | None = None
    withdrawn_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "agree": self.agreed,
            "recorded_at": self.recorded_at,
            "recorded_by": self.recorded_by,
            "agreed_at": self.agreed_at,
            "withdrawn_at": self.withdrawn_at,
        }


@dataclass(frozen=True)
class PortraitRequest:
    image_id: str
    owner: str
    user_id: str
    style: str
    gender: str | None
    created_at: float


@dataclass(frozen=True)
class Erasure:
    """What withdrawing consent removed, by kind."""

    selfies: int = 0
    crops: int = 0
    results: int = 0
    requests: int = 0
    events: int = 0  # events and webhook deliveries that named the visitor

    def to_json(self) -> dict[str, int]:
        return {
            "selfies": self.selfies,
            "crops": self.crops,
            "results": self.results,
            "requests": self.requests,
            "events": self.events,
        }
