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


def find_by_prefix(queue: Queue, ident: str) -> list[DeadLetter]:
    """Dead letters whose job id or image id is `ident`, or else begins with it (as git takes a
    unique prefix of a commit): one when it is unique, several when it is ambiguous."""
    letters = queue.dead_letters(limit=100_000)
    exact = [letter for letter in letters if ident in {letter.job.id, letter.job.image_id}]
    if exact:
        return exact[:1]
    return [
        letter
        for letter in letters
        if letter.job.id.startswith(ident) or letter.job.image_id.startswith(ident)
    ]


def replay(catalog: Catalog, queue: Queue, letter: DeadLetter) -> bool:
    with catalog.atomic():
        if not queue.replay(letter.job.id):
            return False
        catalog.reset_step_failures(letter.job.id)
        catalog.update_image(letter.job.image_id, status=ImageStatus.QUEUED, error=None)
    return True


def replay_all(catalog: Catalog, queue: Queue) -> int:
    return sum(replay(catalog, queue, letter) for letter in queue.dead_letters(limit=100_000))
