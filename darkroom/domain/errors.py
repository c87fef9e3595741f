"""Errors with a meaning for the engine."""

from __future__ import annotations

import errno


class Rejected(Exception):
    """Bad input: final, never retried. The message is the reason shown to the user."""


class Refused(Exception):
    """An intake admission's refusal (no consent, a malformed visitor request): nothing is kept
    of the upload. The message is the reason."""


class RecipeError(ValueError):
    """A recipe that cannot run, with every problem found in it."""


class NotFound(LookupError):
    """A record that does not exist, or belongs to someone else (callers cannot tell which)."""


class Permanent(Exception):
    """A failure that trying again cannot fix (no API key, a refused key, answers that never fit
    the schema): the job is dead-lettered at once with this reason, to be replayed once fixed."""


class InProgress(Exception):
    """Another request holds this upload's claim (the same Idempotency-Key, still being stored):
    the caller should try again shortly and will then get the first request's answer."""


class StorageFull(OSError):
    """The blob store or the database has no space left: nothing was kept, try again later."""


_FULL_MESSAGES = ("database or disk is full", "no space left on device", "disk full")


def is_storage_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the disk or the database is out of space: an
    infrastructure state, never the file's fault, so never counted towards dead-lettering."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageFull):
            return True
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(message in str(current).lower() for message in _FULL_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False
