"""The dead-letter queue seen from the engine: replaying a job also resets its image."""

from __future__ import annotations

from darkroom.domain.records import DeadLetter, ImageStatus
from darkroom.ports import Catalog, Queue


def find(queue: Queue, ident: str) -> DeadLetter | None:
    """A dead letter by job id or image id."""
    for letter in queue.dead_letters(limit=100_000):
        if ident in {letter.job.id, letter.job.image_id}:
            return letter
    return None


def replay(catalog: Catalog, queue: Queue, letter: DeadLetter) -> bool:
    with catalog.atomic():
        if not queue.replay(letter.job.id):
            return False
        catalog.reset_step_failures(letter.job.id)
        catalog.update_image(letter.job.image_id, status=ImageStatus.QUEUED, error=None)
    return True


def replay_all(catalog: Catalog, queue: Queue) -> int:
    return sum(replay(catalog, queue, letter) for letter in queue.dead_letters(limit=100_000))
