"""Accepting pictures: the original is stored, then its record, job and ImageReceived event are
written in one transaction. Nothing is answered as accepted before both are durable."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from darkroom.domain.errors import InProgress, Refused, StorageFull
from darkroom.domain.events import make_event
from darkroom.domain.ids import new_id, stable_id
from darkroom.domain.records import Image, ImageStatus, Job
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import CompiledRecipe, RecipeBook
from darkroom.imaging import EXTENSIONS
from darkroom.ports import BlobStore, Catalog, Claims, Queue
from darkroom.settings import Limits

RECEIVED = "ImageReceived"
CLAIM_HOURS = 24  # an idempotency claim outlives any upload; a crashed one is retaken sooner
WAIT_FOR_FIRST_SECONDS = 5.0
_KNOWN_EXTENSIONS = {ext for ext in EXTENSIONS.values()} | {".jpeg", ".tiff", ".heif"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class Accepted:
    image: Image
    new: bool  # False when the same file (same idempotency key) was accepted before


def display_name(filename: str) -> str:
    """A client's file name, kept for display only: no directories, no control characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    return cleaned[:200] or "unnamed"


def storage_extension(filename: str) -> str:
    extension = os.path.splitext(display_name(filename))[1].lower()
    return extension if extension in _KNOWN_EXTENSIONS else ".bin"


def input_key(owner: str, image_id: str, filename: str) -> str:
    return f"input/{owner}/{image_id}{storage_extension(filename)}"


def presigned_key(owner: str, image_id: str, filename: str) -> str:
    """Where a client uploads straight to the store (S3's presigned POST): the image id the API
    promised is the folder, so the bucket's notification can register the image under it."""
    return f"input/{owner}/{image_id}/{display_name(filename)}"


def sha256_stream(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISDIR: "a directory",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a file")


class Admission(Protocol):
    """A check some recipes make before anything is stored (the portraits recipe's consent)."""

    def admit(
        self, recipe: CompiledRecipe, owner: str, image_id: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """The metadata to store (completed, when the check knows more), or raise to refuse:
        nothing is stored then."""
        ...

    def recorded(self, recipe: CompiledRecipe, image: Image) -> None:
        """Called inside the transaction that records the image."""
        ...


class Intake:
    def __init__(
        self,
        catalog: Catalog,
        queue: Queue,
        blobs: BlobStore,
        recipes: RecipeBook,
        limits: Limits,
        outbox: Outbox,
        claims: Claims,
        admissions: Sequence[Admission] = (),
    ) -> None:
        self.admissions = tuple(admissions)
        self.outbox = outbox
        self.claims = claims
        self.catalog = catalog
        self.queue = queue
        self.blobs = blobs
        self.recipes = recipes
        self.limits = limits

    def accept_path(
        self, path: Path, owner: str, recipe: str, metadata: dict[str, Any] | None = None
    ) -> Accepted:
        """A file from disk. The same path with the same content is the same image on every run,
        so a killed ingest that is run again stores and queues nothing twice. Only a regular
        file is read: a FIFO, a device, a broken link or an unreadable file is its own
        `rejected` record with the reason (opening a FIFO would wait for a writer forever)."""
        path = path.resolve()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            return self._refuse_path(path, owner, recipe, f"cannot read: {exc.strerror}")
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return self._refuse_path(
                    path, owner, recipe, f"not a regular file ({_kind(info.st_mode)})"
                )
            sha256 = sha256_stream(handle)
            key = f"file:{path}:{sha256}"
            if metadata:  # the same selfie for another visitor or style is another image
                digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
                key += ":" + digest.hexdigest()
            existing = self.catalog.find_image(owner, key)
            if existing is not None:
                return Accepted(existing, new=False)
            handle.seek(0)
            return self.accept_stream(
                handle,
                filename=path.name,
                owner=owner,
                recipe=recipe,
                source=str(path),
                idempotency_key=key,
                size=info.st_size,
                sha256=sha256,
                metadata=metadata,
            )

    def _refuse_path(self, path: Path, owner: str, recipe: str, reason: str) -> Accepted:
        key = f"file:{path}:unreadable"
        existing = self.catalog.find_image(owner, key)
        if existing is not None:
            return Accepted(existing, new=False)
        image_id = stable_id(owner, key)
        image = Image(
            id=image_id,
            owner=owner,
            recipe=recipe,
            filename=display_name(path.name),
            location="",
            source=str(path),
            idempotency_key=key,
        )
        return self._refuse(image, reason)

    def accept_stream(
        self,
        stream: IO[bytes],
        *,
        filename: str,
        owner: str,
        recipe: str,
        source: str = "upload",
        idempotency_key: str | None = None,
        size: int | None = None,
        sha256: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, object] | None = None,
        image_id: str | None = None,
    ) -> Accepted:
        compiled = self.recipes.get(recipe)  # an unknown one is refused before storing
        if image_id is None:
            image_id = stable_id(owner, idempotency_key) if idempotency_key else new_id()
        metadata = self._admit(compiled, owner, image_id, dict(metadata or {}))
        name = display_name(filename)
        image = Image(
            id=image_id,
            owner=owner,
            recipe=recipe,
            filename=name,
            location=input_key(owner, image_id, name),
            source=source,
            idempotency_key=idempotency_key,
            job_id=stable_id("job", image_id, "1"),
            content_type=content_type,
            sha256=sha256,
            metadata=dict(metadata or {}),
        )
        if idempotency_key is None:
            return self._store(image, stream, size)
        existing = self.catalog.find_image(owner, idempotency_key)
        if existing is not None:
            return Accepted(existing, new=False)
        # Two requests with one key at once: the claim lets one write; the other waits for its
        # record (then answers as it did) instead of overwriting its bytes.
        claim = "idempotency:" + hashlib.sha256(f"{owner}\0{idempotency_key}".encode()).hexdigest()
        if not self.claims.take(claim, owner, time.time() + CLAIM_HOURS * 3600):
            return Accepted(self._wait_for(owner, idempotency_key), new=False)
        try:
            existing = self.catalog.find_image(owner, idempotency_key)  # done before our claim
            if existing is not None:
                return Accepted(existing, new=False)
            return self._store(image, stream, size)
        finally:
            self.claims.release(claim)

    def _admit(
        self, recipe: CompiledRecipe, owner: str, image_id: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """The metadata every admission let through (and completed), or Refused from one."""
        for admission in self.admissions:
            metadata = admission.admit(recipe, owner, image_id, dict(metadata))
        return metadata

    def _wait_for(self, owner: str, idempotency_key: str) -> Image:
        deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
        while time.monotonic() < deadline:
            existing = self.catalog.find_image(owner, idempotency_key)
            if existing is not None:
                return existing
            time.sleep(0.05)
        raise InProgress("an upload with this Idempotency-Key is still being received: retry")

    def _store(self, image: Image, stream: IO[bytes], size: int | None) -> Accepted:
        """The bytes to the store, then the record: the caller holds the only right to write."""
        if size is not None and size > self.limits.max_bytes:
            return self._refuse(
                image, f"too large: {size:,} bytes is over the limit of {self.limits.max_bytes:,}"
            )
        try:
            image.size_bytes = self.blobs.put_file(
                image.location, stream, content_type=image.content_type
            )
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(
                    exc.errno, f"no space left to store the upload: {exc.strerror}"
                ) from exc
            raise
        if image.size_bytes > self.limits.max_bytes:
            self.blobs.delete(image.location)
            return self._refuse(
                image, f"too large: over the limit of {self.limits.max_bytes:,} bytes"
            )
        try:
            self._record(image)
        except Exception:
            if self.catalog.get_image(image.id) is None:  # no record points at it: no orphan
                self.blobs.delete(image.location)
            raise
        return Accepted(image, new=True)

    def accept_stored(
        self,
        key: str,
        *,
        owner: str,
        recipe: str,
        size: int,
        idempotency_key: str,
        source: str,
        enqueue: bool = True,
        image_id: str | None = None,
    ) -> Accepted:
        """An original that is already in the store at `key` (an object put straight into the
        bucket): recorded where it lies, nothing copied. The recipe's admissions see it first;
        one they refuse is deleted and recorded `rejected` with the reason. The same key (same
        idempotency key) is the same image on every delivery of its notification. With
        `enqueue=False` no job is queued: the caller runs the job itself (a Lambda handling the
        notification). `image_id`: the id promised beforehand (a presigned upload), instead of
        one made from the key."""
        existing = self.catalog.find_image(owner, idempotency_key)
        if existing is not None:
            return Accepted(existing, new=False)
        image_id = image_id or stable_id(owner, idempotency_key)
        image = Image(
            id=image_id,
            owner=owner,
            recipe=recipe,
            filename=display_name(key),
            location=key,
            source=source,
            idempotency_key=idempotency_key,
            job_id=stable_id("job", image_id, "1"),
            size_bytes=size,  # validate refuses one over the limit before reading it
        )
        try:
            image.metadata = self._admit(self.recipes.get(recipe), owner, image_id, {})
        except Refused as exc:
            # Nobody is there to answer (the object came by the bucket): its record says why,
            # and the bytes are not kept (a selfie without consent must not stay stored).
            self.blobs.delete(key)
            return self._refuse(image, str(exc))
        self._record(image, enqueue=enqueue)
        return Accepted(image, new=True)

    def _record(self, image: Image, *, enqueue: bool = True) -> None:
        assert image.job_id is not None
        job = Job(id=image.job_id, image_id=image.id, owner=image.owner, recipe=image.recipe)
        received = make_event(
            "intake",
            RECEIVED,
            {
                "image_id": image.id,
                "owner": image.owner,
                "recipe": image.recipe,
                "filename": image.filename,
                "size": image.size_bytes,
                "location": image.location,
            },
            key=image.id,
        )
        with self.catalog.atomic():
            self.catalog.add_image(image)
            if self.admissions and image.location:
                compiled = self.recipes.get(image.recipe)
                for admission in self.admissions:
                    admission.recorded(compiled, image)
            if enqueue:
                self.queue.enqueue(job)
            self.catalog.add_events([received])
            later = self.outbox.within([received])
        self.outbox.publish(later)

    def _refuse(self, image: Image, reason: str) -> Accepted:
        """Too large to store: kept as a rejected record so the caller sees why."""
        image.status = ImageStatus.REJECTED
        image.error = reason
        image.location = ""
        image.job_id = None
        self.catalog.add_image(image)
        return Accepted(image, new=True)
