"""An object that landed in the bucket becomes an image, or is passed over with the reason.

Only originals under input/{owner}/ are darkroom's to take. Everything darkroom writes itself
lies elsewhere (thumbnails/, the class folders), so handling those could only loop. An original
the API stored (input/{owner}/{image_id}{ext}) is already an image with a queued job.

The media library's clients put objects straight under
clients/{client}/products/{sku}/media/{image|video}/{file}: each becomes a media item of that
client (the owner), run by the `media` recipe. darkroom files its own results in that layout too
(thumbnails/ and keyframes under media/thumbnails/, originals renamed to their id), and those
are passed over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from darkroom.domain.records import Image, Job
from darkroom.lambdas.messages import StoredObject
from darkroom.ports import DirectUploads
from darkroom.wiring import Runtime, SettingsError

INPUT = "input/"
MEDIA = "clients/"
MEDIA_RECIPE = "media"
LAYOUT = "clients/{client}/products/{sku}/media/{image|video}/{file}"
_MEDIA_KEY = re.compile(r"^clients/([^/]+)/products/([^/]+)/media/([^/]+)/([^/]+)$")
# The bucket's suffix filters are case-sensitive and cover the usual spellings; this is the
# second filter, on the lower-cased name.
MEDIA_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp",
    ".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi",
}  # fmt: skip
OWNER = re.compile(r"^[A-Za-z0-9._-]{1,128}$")  # as `darkroom keys create` allows
_IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")
# A notification can outrun the API's commit (it stores the original first, then the record,
# milliseconds apart). A young object named like a darkroom id that no image has yet is tried
# again later; an older one is a user's own file that happens to look like one, or an original
# whose upload died before its record was written: either way, taken as a new image.
REGISTRATION_GRACE = timedelta(seconds=60)


class NotRegisteredYet(Exception):
    """The object looks like one the API is storing right now: try again later."""


@dataclass(frozen=True)
class Arrival:
    image: Image | None
    new: bool = False
    skipped: str | None = None  # why the object is not processed here

    def job(self) -> Job:
        image = self.image
        assert image is not None and image.job_id is not None
        return Job(id=image.job_id, image_id=image.id, owner=image.owner, recipe=image.recipe)


def storage_root(rt: Runtime) -> tuple[str, str]:
    """The bucket and key prefix darkroom stores under (DARKROOM_STORAGE=s3://BUCKET[/PREFIX])."""
    url = urlparse(rt.settings.storage_url)
    if url.scheme != "s3":
        raise SettingsError(
            f"DARKROOM_STORAGE is {rt.settings.storage_url!r}: bucket notifications need s3://"
        )
    prefix = url.path.strip("/")
    return url.netloc, f"{prefix}/" if prefix else ""


def admit(rt: Runtime, obj: StoredObject, *, enqueue: bool) -> Arrival:
    """Register the object as an image (once: a repeated notification finds the same image),
    or say why not. `enqueue=False`: the caller runs the job itself."""
    bucket, prefix = storage_root(rt)
    if obj.bucket != bucket:
        return Arrival(None, skipped=f"bucket {obj.bucket!r} is not darkroom's ({bucket!r})")
    if obj.key.startswith(prefix + MEDIA):
        return _media(rt, obj, obj.key[len(prefix) :], enqueue=enqueue)
    if not obj.key.startswith(prefix + INPUT):
        return Arrival(None, skipped=f"{obj.key!r} is not under {prefix + INPUT!r}")
    key = obj.key[len(prefix) :]
    owner, _, name = key[len(INPUT) :].partition("/")
    if not OWNER.match(owner):
        return Arrival(None, skipped=f"{key!r}: no valid owner folder after input/")
    if not name or name.endswith("/"):
        return Arrival(None, skipped=f"{key!r} is a folder, not a file")
    folder, _, filename = name.partition("/")
    if _IMAGE_ID.match(folder) and filename and "/" not in filename:
        return _presigned(rt, obj, key, owner, folder, enqueue=enqueue)
    stem = name.rsplit(".", 1)[0]
    known = rt.catalog.get_image(stem, owner) if _IMAGE_ID.match(stem) else None
    if known is not None:
        return Arrival(known, skipped="stored by the API: its queued job runs it")
    young = obj.time is not None and datetime.now(UTC) - obj.time < REGISTRATION_GRACE
    if _IMAGE_ID.match(stem) and "/" not in name and young:
        raise NotRegisteredYet(f"{key!r} is named like an image id that is not recorded yet")
    size = obj.size
    if size is None:
        raise ValueError(f"{obj.url}: the notification does not say the object's size")
    accepted = rt.intake.accept_stored(
        key,
        owner=owner,
        recipe=rt.settings.recipe,
        size=size,
        idempotency_key=f"{obj.url}#{obj.etag}",
        source=obj.url,
        enqueue=enqueue,
    )
    return Arrival(accepted.image, new=accepted.new)


def _presigned(
    rt: Runtime, obj: StoredObject, key: str, owner: str, image_id: str, *, enqueue: bool
) -> Arrival:
    """An upload straight to the bucket through `/upload/presign` (input/{owner}/{id}/{name}):
    registered under the id the API promised, with the recipe the signed form fixed. The id is
    the idempotency key, so a repeated notification (or a second post of the same form) finds
    the same image."""
    known = rt.catalog.find_image(owner, f"presigned:{image_id}")
    if known is not None:  # a repeat: its job runs again and repeats nothing already done
        return Arrival(known)
    if obj.size is None:
        raise ValueError(f"{obj.url}: the notification does not say the object's size")
    stored = rt.blobs.metadata(key) if isinstance(rt.blobs, DirectUploads) else {}
    accepted = rt.intake.accept_stored(
        key,
        owner=owner,
        recipe=stored.get("recipe") or rt.settings.recipe,
        size=obj.size,
        idempotency_key=f"presigned:{image_id}",
        source=obj.url,
        enqueue=enqueue,
        image_id=image_id,
    )
    return Arrival(accepted.image, new=accepted.new)


def _media(rt: Runtime, obj: StoredObject, key: str, *, enqueue: bool) -> Arrival:
    """An object a client put into its media library: the client from the key, the sku read
    from it by the recipe's `product` step (the key is already URL-decoded)."""
    found = _MEDIA_KEY.match(key)
    if found is None:
        if "/media/thumbnails/" in key:
            return Arrival(None, skipped=f"{key!r} is darkroom's own thumbnail or keyframe")
        return Arrival(None, skipped=f"{key!r} is not in the layout {LAYOUT}")
    client, _, kind, name = found.groups()
    if not OWNER.match(client):
        return Arrival(None, skipped=f"{key!r}: {client!r} is not a valid client")
    if kind not in ("image", "video"):
        return Arrival(None, skipped=f"{key!r}: media/{kind}/ is neither image/ nor video/")
    suffix = ("." + name.rsplit(".", 1)[1].lower()) if "." in name else ""
    if suffix not in MEDIA_SUFFIXES:
        return Arrival(None, skipped=f"{key!r}: {suffix or 'no suffix'} is not an image or video")
    stem = name.rsplit(".", 1)[0]
    known = rt.catalog.get_image(stem, client) if _IMAGE_ID.match(stem) else None
    if known is not None:
        return Arrival(known, skipped="darkroom filed this original itself")
    if obj.size is None:
        raise ValueError(f"{obj.url}: the notification does not say the object's size")
    accepted = rt.intake.accept_stored(
        key,
        owner=client,
        recipe=MEDIA_RECIPE,
        size=obj.size,
        idempotency_key=f"{obj.url}#{obj.etag}",
        source=obj.url,
        enqueue=enqueue,
    )
    return Arrival(accepted.image, new=accepted.new)
