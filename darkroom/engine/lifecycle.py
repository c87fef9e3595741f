"""Deleting and reprocessing images: every variant and record goes, or a fresh job starts."""

from __future__ import annotations

from darkroom.domain.events import make_event
from darkroom.domain.ids import new_id
from darkroom.domain.records import Image, ImageStatus, Job
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import RecipeBook
from darkroom.ports import BlobStore, Catalog, ImageQuery, Queue, TextIndex, VectorIndex

DELETED = "ImageDeleted"


class Conflict(Exception):
    """The request cannot apply to the image as it is now."""


def derived_prefixes(image: Image) -> list[str]:
    return [f"thumbnails/{image.owner}/{image.id}/"]


def remove_files(
    blobs: BlobStore, image: Image, indexes: tuple[VectorIndex | TextIndex, ...] = ()
) -> None:
    """The image's index entries, original and derivatives; its records stay for the caller."""
    for index in indexes:  # first, so no search can answer with a half-deleted image
        index.delete(image.id)
    if image.location:
        blobs.delete(image.location)
    for prefix in derived_prefixes(image):
        blobs.delete_prefix(prefix)


def delete_image(
    catalog: Catalog,
    blobs: BlobStore,
    outbox: Outbox,
    image: Image,
    indexes: tuple[VectorIndex | TextIndex, ...] = (),
) -> list[str]:
    """Remove the image's blobs and records, and those of its duplicates (same bytes); answer
    the ids removed. Blobs go first: a crash in between leaves a record that can be deleted
    again, never a blob that nothing points at."""
    removed: list[str] = []
    duplicates = [
        other
        for other in catalog.list_images(
            ImageQuery(owner=image.owner, status=ImageStatus.DUPLICATE, limit=100_000)
        )
        if other.duplicate_of == image.id
    ]
    for victim in [image, *duplicates]:
        remove_files(blobs, victim, indexes)
        event = make_event(
            "api",
            DELETED,
            {"image_id": victim.id, "owner": victim.owner},
            key=f"{victim.id}:deleted",
        )
        with catalog.atomic():
            catalog.delete_image(victim.id)
            catalog.add_events([event])
        outbox.publish([event])
        removed.append(victim.id)
    return removed


def reprocess(
    catalog: Catalog, queue: Queue, recipes: RecipeBook, image: Image, recipe: str | None = None
) -> Image:
    """Run a recipe again over the stored original, under a new job."""
    name = recipe or image.recipe
    recipes.get(name)
    if image.status is ImageStatus.DUPLICATE:
        raise Conflict(f"image is a duplicate of {image.duplicate_of}; reprocess that one")
    if not image.location:
        raise Conflict("the original was never stored (it was refused at upload)")
    job = Job(id=new_id(), image_id=image.id, owner=image.owner, recipe=name)
    with catalog.atomic():
        catalog.update_image(
            image.id, job_id=job.id, recipe=name, status=ImageStatus.QUEUED, error=None
        )
        queue.enqueue(job)
    refreshed = catalog.get_image(image.id)
    assert refreshed is not None
    return refreshed
