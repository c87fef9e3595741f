"""Errors with a meaning for the engine."""

from __future__ import annotations


class Rejected(Exception):
    """Bad input: final, never retried. The message is the reason shown to the user."""


class RecipeError(ValueError):
    """A recipe that cannot run, with every problem found in it."""


class NotFound(LookupError):
    """A record that does not exist, or belongs to someone else (callers cannot tell which)."""


class Permanent(Exception):
    """A failure that trying again cannot fix (no API key, a refused key, answers that never fit
    the schema): the job is dead-lettered at once with this reason, to be replayed once fixed."""
