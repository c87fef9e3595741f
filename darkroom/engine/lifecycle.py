"""Deleting and reprocessing images: every variant and record goes, or a fresh job starts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from darkroom.domain.events import make_event
from darkroom.domain.ids import new_id
from darkroom.domain.records import FinishedStep, Image, ImageStatus, Job
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import CompiledRecipe, RecipeBook
from darkroom.ports import (
    BlobStore,
    Catalog,
    DetectionLog,
    ImageQuery,
    Queue,
    TextIndex,
    VectorIndex,
)
from darkroom.steps.media_files import media_folder

DELETED = "ImageDeleted"


class Conflict(Exception):
    """The request cannot apply to the image as it is now."""


def derived_prefixes(image: Image) -> list[str]:
    prefixes = [
        f"thumbnails/{image.owner}/{image.id}/",
        f"standardised/{image.owner}/{image.id}/",  # the catalog recipe's standardised copy
        f"faces/{image.owner}/{image.id}/",  # the portraits recipe's face crops
        f"portraits/{image.owner}/{image.id}/",  # and its portraits
    ]
    sku = image.metadata.get("sku")
    if image.metadata.get("media") and sku:  # the media library keeps them beside the product
        prefixes.append(f"{media_folder(image.owner, str(sku))}/thumbnails/{image.id}/")
    return prefixes


def remove_files(
    blobs: BlobStore,
    image: Image,
    indexes: tuple[VectorIndex | TextIndex, ...] = (),
    detections: DetectionLog | None = None,
) -> None:
    """The image's index entries, detection record (when it lives apart from the catalog),
    original and derivatives; its catalog records stay for the caller."""
    for index in indexes:  # first, so no search can answer with a half-deleted image
        index.delete(image.id)
    if detections is not None:
        detections.delete_detection_records(image.id)
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
    detections: DetectionLog | None = None,
    queue: Queue | None = None,
) -> list[str]:
    """Remove the image's blobs and records; answer the ids removed (this one only). Its exact
    duplicates were uploads accepted on their own and keep their own bytes: with a `queue`, the
    oldest is promoted to hold the content and processed in full, the rest point at it. Blobs go
    first: a crash in between leaves a record that can be deleted again, never a blob that
    nothing points at."""
    heirs = duplicates_of(catalog, image.owner, image.id) if queue is not None else []
    if heirs:
        _take_over_bytes(blobs, heirs[0], image.location)
    remove_files(blobs, image, indexes, detections)
    event = make_event(
        "api", DELETED, {"image_id": image.id, "owner": image.owner}, key=f"{image.id}:deleted"
    )
    with catalog.atomic():
        catalog.delete_image(image.id)  # its claim on the content goes with it
        catalog.add_events([event])
    outbox.publish([event])
    if heirs and queue is not None:
        _promote(catalog, queue, heirs)
    return [image.id]


def duplicates_of(catalog: Catalog, owner: str, image_id: str) -> list[Image]:
    found = catalog.list_images(
        ImageQuery(owner=owner, status=ImageStatus.DUPLICATE, limit=100_000)
    )
    return sorted(
        (other for other in found if other.duplicate_of == image_id), key=lambda i: i.created_at
    )


def promote_duplicates(
    catalog: Catalog,
    blobs: BlobStore,
    queue: Queue,
    owner: str,
    holder_id: str,
    holder_location: str = "",
) -> bool:
    """The holder of some content is gone: its oldest duplicate becomes an image in its own
    right (a fresh job, whose hash step claims the content), the others its duplicates."""
    heirs = duplicates_of(catalog, owner, holder_id)
    if heirs:
        _take_over_bytes(blobs, heirs[0], holder_location)
        _promote(catalog, queue, heirs)
    return bool(heirs)


def _take_over_bytes(blobs: BlobStore, heir: Image, holder_location: str) -> None:
    """A duplicate made when duplicates shared the first's bytes has none of its own: it takes
    the first's over before they are deleted."""
    if blobs.exists(heir.location) or not holder_location or not blobs.exists(holder_location):
        return
    heir.location = heir.location or f"input/{heir.owner}/{heir.id}.bin"
    blobs.move(holder_location, heir.location)


def _promote(catalog: Catalog, queue: Queue, heirs: list[Image]) -> None:
    heir, *rest = heirs
    job = Job(id=new_id(), image_id=heir.id, owner=heir.owner, recipe=heir.recipe)
    with catalog.atomic():
        catalog.update_image(
            heir.id,
            duplicate_of=None,
            status=ImageStatus.QUEUED,
            job_id=job.id,
            location=heir.location,
            error=None,
        )
        queue.enqueue(job)
        for other in rest:
            catalog.update_image(other.id, duplicate_of=heir.id)


def reprocess(
    catalog: Catalog,
    queue: Queue,
    recipes: RecipeBook,
    image: Image,
    recipe: str | None = None,
    steps: Sequence[str] = (),
) -> Image:
    """Run a recipe again over the stored original, under a new job. With `steps`, only those
    and the later steps that need them run again (a backfill: re-embed with a newer model, say);
    the new job starts with the other steps' stored results."""
    name = recipe or image.recipe
    compiled = recipes.get(name)
    if image.status is ImageStatus.DUPLICATE:
        raise Conflict(f"image is a duplicate of {image.duplicate_of}; reprocess that one")
    if not image.location:
        raise Conflict("the original was never stored (it was refused at upload)")
    kept: list[FinishedStep] = []
    if steps:
        if (
            image.status is not ImageStatus.COMPLETED
            or image.job_id is None
            or name != image.recipe
        ):
            raise Conflict("only an image its recipe completed can have single steps run again")
        rerun = steps_to_rerun(compiled, steps)
        previous = catalog.step_outputs(image.job_id)
        kept = [
            FinishedStep(step.name, previous[step.name])
            for step in compiled.steps
            if step.name not in rerun and step.name in previous
        ]
    job = Job(id=new_id(), image_id=image.id, owner=image.owner, recipe=name)
    with catalog.atomic():
        catalog.update_image(
            image.id, job_id=job.id, recipe=name, status=ImageStatus.QUEUED, error=None
        )
        if kept:
            catalog.finish_steps(job.id, image.id, kept)
        queue.enqueue(job)
    refreshed = catalog.get_image(image.id)
    assert refreshed is not None
    return refreshed


def steps_to_rerun(recipe: CompiledRecipe, names: Sequence[str]) -> set[str]:
    """The named steps, and every later step that needs or reads one of them (re-classify, and
    re-index the new class, after a new detector), by the steps' declarations."""
    known = {step.name for step in recipe.steps}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise Conflict(
            f"recipe {recipe.name!r} has no step {', '.join(map(repr, unknown))}; "
            f"its steps: {', '.join(step.name for step in recipe.steps)}"
        )
    rerun = set(names)
    changed = {step.definition.name for step in recipe.steps if step.name in rerun}
    for step in recipe.steps:
        inputs = {*step.definition.needs, *step.definition.reads}
        if step.name not in rerun and inputs & changed and not step.spec.shadow:
            rerun.add(step.name)
            changed.add(step.definition.name)
    return rerun


def made_by(outputs: dict[str, dict[str, Any]], where: dict[str, str]) -> bool:
    """Provenance filters: 'embed.model=descriptor' holds when the embed step's stored output
    says so (a missing step or field never matches)."""
    for key, wanted in where.items():
        step, _, field = key.partition(".")
        output = outputs.get(step)
        if output is None or field not in output or str(output[field]) != wanted:
            return False
    return True


def parse_where(pairs: Sequence[str]) -> dict[str, str]:
    """'STEP.FIELD=VALUE' pairs, checked up front so a typo fails before any job is queued."""
    where: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        step, dot, field = key.partition(".")
        if not sep or not dot or not step or not field:
            raise ValueError(f"--where {pair!r}: expected STEP.FIELD=VALUE, like embed.model=x")
        where[key] = value
    return where


def backfill_candidates(
    catalog: Catalog, query: ImageQuery, where: dict[str, str], page: int = 500
) -> Iterator[Image]:
    """Images matching the query and the provenance filters, page by page (ids sort by time)."""
    cursor = query.after_id
    while True:
        images = catalog.list_images(replace(query, after_id=cursor, limit=page))
        for image in images:
            if not where or (image.job_id and made_by(catalog.step_outputs(image.job_id), where)):
                yield image
        if len(images) < page:
            return
        cursor = images[-1].id
