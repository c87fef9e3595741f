"""GET/DELETE /images..., thumbnails and originals, reprocessing."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from darkroom.api.errors import COMMON, invalid
from darkroom.api.routes.uploads import links, services
from darkroom.api.schemas import (
    Accepted,
    AnalysesOut,
    DetectionOut,
    DuplicatesOut,
    ImageDetail,
    ImagePage,
    LookAlike,
    NearCopy,
    ReprocessRequest,
    StepState,
)
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.domain.errors import RecipeError
from darkroom.domain.records import Image, ImageStatus
from darkroom.engine import lifecycle
from darkroom.engine.duplicates import find_duplicates
from darkroom.imaging import CONTENT_TYPES
from darkroom.ports import ImageQuery
from darkroom.views import holder_of, image_record, keyframe_key, original_location

router = APIRouter(tags=["images"], responses=COMMON)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such image for this owner"}}
CACHE = "private, max-age=86400"


def owned(svc: Services, image_id: str, principal: Principal) -> Image:
    """The caller's image. Someone else's answers 404 too: ids cannot be probed."""
    image = svc.runtime.catalog.get_image(image_id, principal.owner)
    if image is None:
        raise HTTPException(404, f"no image {image_id!r}")
    return image


def image_out(request: Request, svc: Services, image: Image) -> dict[str, Any]:
    record = image_record(image, svc.runtime.blobs, svc.runtime.catalog)
    record["metadata"] = image.metadata
    record["links"] = links(request, image.id).model_dump()
    return record


def encode_cursor(image_id: str) -> str:
    return base64.urlsafe_b64encode(image_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid(("query", "cursor"), "not a cursor this API gave out") from None
    if not value.isalnum() or len(value) > 64:
        raise invalid(("query", "cursor"), "not a cursor this API gave out")
    return value


@router.get("/images", response_model=ImagePage, response_model_by_alias=True)
def list_images(
    request: Request,
    principal: Principal = Depends(authenticate),
    class_name: str | None = Query(default=None, alias="class", max_length=64),
    status: ImageStatus | None = None,
    uncertain: bool | None = None,
    recipe: str | None = Query(default=None, max_length=64),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: str | None = Query(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page, as given (opaque)",
    ),
    limit: int = Query(default=50, ge=1, le=1000),
) -> dict[str, Any]:
    svc = services(request)
    query = ImageQuery(
        owner=principal.owner,
        status=status,
        class_name=class_name,
        uncertain=uncertain,
        recipe=recipe,
        created_after=created_after,
        created_before=created_before,
        after_id=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    found = svc.runtime.catalog.list_images(query)
    page = found[:limit]
    more = len(found) > limit
    return {
        "items": [image_out(request, svc, image) for image in page],
        "next_cursor": encode_cursor(page[-1].id) if more and page else None,
    }


@router.get(
    "/images/{image_id}",
    response_model=ImageDetail,
    response_model_by_alias=True,
    responses=NOT_FOUND,
)
def get_image(
    image_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    svc = services(request)
    image = owned(svc, image_id, principal)
    record = image_out(request, svc, image)
    outputs = svc.runtime.catalog.step_outputs(image.job_id) if image.job_id else {}
    failures = svc.runtime.catalog.step_failures(image.job_id) if image.job_id else {}
    steps: dict[str, StepState] = {}
    try:
        names = [step.name for step in svc.runtime.recipes.get(image.recipe).steps]
    except RecipeError:
        names = list(outputs)
    for name in names:
        count, error = failures.get(name, (0, None))
        if name in outputs:
            steps[name] = StepState(
                status="done", failures=count, last_error=error, output=outputs[name]
            )
        else:
            steps[name] = StepState(
                status="retrying" if count else "pending", failures=count, last_error=error
            )
    record["steps"] = steps
    record["detections"] = [
        DetectionOut(**r.to_json()) for r in svc.runtime.detections.detection_records(image.id)
    ]
    latest = svc.runtime.catalog.latest_analysis(image.id)
    record["analysis"] = latest.to_json() if latest is not None else None
    return record


@router.get("/images/{image_id}/analyses", response_model=AnalysesOut, responses=NOT_FOUND)
def analyses(
    image_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    """Every analysis of an image by a vision model, newest first; reprocessing adds one."""
    svc = services(request)
    image = owned(svc, image_id, principal)
    return {"items": [a.to_json() for a in svc.runtime.catalog.analyses(image.id)]}


def _blob_response(
    svc: Services,
    key: str,
    media_type: str,
    etag: str,
    request: Request,
    filename: str | None = None,
) -> Response:
    headers = {"Cache-Control": CACHE, "ETag": f'"{etag}"'}
    if request.headers.get("if-none-match") == f'"{etag}"':
        return Response(status_code=304, headers=headers)
    if filename:
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
    path = svc.runtime.blobs.local_path(key)
    try:
        if path is None:
            return Response(svc.runtime.blobs.get(key), media_type=media_type, headers=headers)
        # Open now: a worker may move the file to its class folder, or a delete remove it, at
        # any moment; an open handle keeps the bytes, a path handed to FileResponse would not.
        handle = open(path, "rb")  # noqa: SIM115 (closed by the response when it is sent)
    except (FileNotFoundError, KeyError):
        raise HTTPException(
            404, "the file is gone (moved or deleted just now); ask again"
        ) from None
    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    return StreamingResponse(_chunks(handle), media_type=media_type, headers=headers)


def _chunks(handle: BinaryIO, size: int = 256 * 1024) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk


@router.get(
    "/images/{image_id}/thumbnail",
    responses={
        **NOT_FOUND,
        200: {"content": {"image/jpeg": {}}, "description": "the JPEG thumbnail"},
    },
    response_class=Response,
)
def thumbnail(
    image_id: str,
    request: Request,
    size: int | None = Query(default=None, ge=16, le=8192),
    principal: Principal = Depends(authenticate),
) -> Response:
    svc = services(request)
    image = owned(svc, image_id, principal)
    holder = holder_of(image, svc.runtime.catalog)  # a duplicate shows its holder's thumbnail
    key = holder.thumbnail if holder is not None else None
    if key and size is not None:
        key = f"{key.rsplit('/', 1)[0]}/{size}.jpg"
    if not key or not svc.runtime.blobs.exists(key):
        raise HTTPException(
            404, "no thumbnail (yet) for this image" + (f" at size {size}" if size else "")
        )
    return _blob_response(
        svc,
        key,
        "image/jpeg",
        f"{image.id}-{key.rsplit('/', 1)[-1]}-{image.updated_at.timestamp():.0f}",
        request,
    )


@router.get(
    "/images/{image_id}/keyframes/{ms}",
    responses={**NOT_FOUND, 200: {"content": {"image/jpeg": {}}, "description": "the keyframe"}},
    response_class=Response,
)
def keyframe(
    image_id: str, ms: int, request: Request, principal: Principal = Depends(authenticate)
) -> Response:
    """A video's keyframe at `ms` milliseconds, as its record and search hits list them."""
    svc = services(request)
    image = owned(svc, image_id, principal)
    key = keyframe_key(image, ms, svc.runtime.catalog)
    if key is None or not svc.runtime.blobs.exists(key):
        raise HTTPException(404, f"no keyframe at {ms} ms for this image")
    return _blob_response(svc, key, "image/jpeg", f"{image.id}-keyframe-{ms}", request)


@router.get(
    "/images/{image_id}/original",
    responses={
        **NOT_FOUND,
        200: {
            "content": {"image/*": {}, "application/octet-stream": {}},
            "description": "the original bytes (octet-stream when they are no image)",
        },
    },
    response_class=Response,
)
def original(
    image_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> Response:
    svc = services(request)
    image = owned(svc, image_id, principal)
    key = original_location(image, svc.runtime.blobs, svc.runtime.catalog)
    if not key:
        raise HTTPException(404, "the original is not stored")
    media = CONTENT_TYPES.get(image.format or "", image.content_type or "application/octet-stream")
    return _blob_response(
        svc, key, media, image.sha256 or image.id, request, filename=image.filename.replace('"', "")
    )


@router.get("/images/{image_id}/duplicates", response_model=DuplicatesOut, responses=NOT_FOUND)
def duplicates(
    image_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> DuplicatesOut:
    """Exact copies, near copies and look-alikes of an image, each tier apart."""
    svc = services(request)
    found = find_duplicates(
        svc.runtime.catalog, svc.runtime.search, owned(svc, image_id, principal)
    )
    return DuplicatesOut(
        exact=found.exact,
        near=[NearCopy(image_id=other, bits=bits) for other, bits in found.near],
        semantic=[LookAlike(image_id=other, score=score) for other, score in found.semantic],
    )


@router.delete("/images/{image_id}", status_code=204, responses=NOT_FOUND, response_class=Response)
def delete_image(
    image_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> Response:
    svc = services(request)
    image = owned(svc, image_id, principal)
    rt = svc.runtime
    lifecycle.delete_image(
        rt.catalog, rt.blobs, rt.outbox, image, (rt.vectors, rt.text), rt.detections, rt.queue
    )
    return Response(status_code=204)


@router.post(
    "/images/{image_id}/reprocess",
    status_code=202,
    response_model=Accepted,
    responses={**NOT_FOUND, 409: {"description": "cannot be reprocessed as it is"}},
)
def reprocess(
    image_id: str,
    request: Request,
    body: ReprocessRequest | None = None,
    principal: Principal = Depends(authenticate),
) -> Accepted:
    svc = services(request)
    image = owned(svc, image_id, principal)
    rt = svc.runtime
    try:
        updated = lifecycle.reprocess(
            rt.catalog, rt.queue, rt.recipes, image, body.recipe if body else None
        )
    except RecipeError as exc:
        raise invalid(("body", "recipe"), str(exc)) from None
    except lifecycle.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    return Accepted(
        image_id=updated.id, status=updated.status.value, links=links(request, updated.id)
    )
