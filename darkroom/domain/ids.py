"""Identifiers: time-ordered for new records, deterministic where a retry must find its twin."""

from __future__ import annotations

import hashlib
import os
import time


def new_id() -> str:
    """A 32-hex-digit id whose prefix is the creation time in ms, so ids sort by age."""
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


def stable_id(*parts: str) -> str:
    """The same 32-hex-digit id for the same parts: a re-run of the same work gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:32]
