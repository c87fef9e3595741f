"""POST /upload (multipart or JSON), POST /upload/presign and the presigned PUT."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import tempfile
import time
from datetime import UTC, datetime
from typing import IO, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import UploadFile

from darkroom.api.errors import COMMON, VALIDATION_SCHEMA, from_validation, invalid
from darkroom.api.presign import Grant, PresignError
from darkroom.api.schemas import Accepted, Links, PresignRequest, PresignResponse, UploadJson
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.domain.errors import RecipeError
from darkroom.domain.ids import new_id
from darkroom.engine.intake import Accepted as Intake
from darkroom.engine.intake import presigned_key
from darkroom.ports import DirectUploads
from darkroom.settings import Settings

router = APIRouter(tags=["uploads"], responses=COMMON)

ACCEPTED_TYPES = {
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/tiff",
    "image/bmp",
    "video/mp4",  # videos: the media recipe probes them; other recipes reject them
    "video/quicktime",
    "video/webm",
    "application/octet-stream",
}

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "recipe": {"type": "string", "maxLength": 64},
                        "metadata": {"type": "string", "description": "a JSON object"},
                    },
                }
            },
            "application/json": {"schema": UploadJson.model_json_schema()},
        },
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    415: {"description": "not an accepted media type"},
    422: {
        "description": "invalid request",
        "content": {"application/json": {"schema": VALIDATION_SCHEMA}},
    },
}


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def links(request: Request, image_id: str) -> Links:
    base = f"/images/{image_id}"
    return Links(self=base, thumbnail=f"{base}/thumbnail", original=f"{base}/original")


def check_media_type(content_type: str | None) -> str:
    media = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise HTTPException(
            415,
            f"unsupported media type {media!r}: send an image (JPEG, PNG, WebP, GIF, TIFF, BMP) "
            "or, for the media recipe, a video (MP4, MOV, WebM)",
        )
    return media


def accepted_answer(request: Request, result: Intake) -> Accepted:
    if result.image.status.value == "rejected" and not result.image.location:
        raise HTTPException(413, result.image.error or "too large")
    return Accepted(
        image_id=result.image.id,
        status=result.image.status.value,
        links=links(request, result.image.id),
    )


def _accept(
    svc: Services,
    stream: IO[bytes],
    *,
    filename: str,
    owner: str,
    recipe: str | None,
    content_type: str,
    metadata: dict[str, Any],
    idempotency_key: str | None,
    image_id: str | None = None,
) -> Intake:
    name = recipe or svc.settings.recipe
    try:
        needed = svc.runtime.recipes.get(name).recipe.requires_metadata
    except RecipeError as exc:
        raise invalid(("body", "recipe"), str(exc)) from None
    missing = [key for key in needed if metadata.get(key) in (None, "")]
    if missing:  # refused before a byte is stored
        raise invalid(("body", "metadata"), f"recipe {name!r} needs metadata {', '.join(missing)}")
    try:
        return svc.runtime.intake.accept_stream(
            stream,
            filename=filename,
            owner=owner,
            recipe=recipe or svc.settings.recipe,
            content_type=content_type,
            metadata=metadata,
            idempotency_key=f"upload:{idempotency_key}" if idempotency_key else None,
            image_id=image_id,
        )
    except RecipeError as exc:
        raise invalid(("body", "recipe"), str(exc)) from None


def _metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(("body", "metadata"), f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise invalid(("body", "metadata"), "must be a JSON object")
    return value


@router.post(
    "/upload",
    status_code=202,
    response_model=Accepted,
    openapi_extra=UPLOAD_BODY,
    responses=ERRORS,
    summary="Upload a picture (multipart/form-data, or JSON with base64 data)",
)
async def upload(request: Request, principal: Principal = Depends(authenticate)) -> Accepted:
    svc = services(request)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    idempotency_key = request.headers.get("idempotency-key")
    if media == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise invalid(("body", "file"), "multipart upload needs a 'file' part")
        recipe = form.get("recipe")
        meta = form.get("metadata")
        content_type = check_media_type(file.content_type)
        result = await run_in_threadpool(
            _accept,
            svc,
            file.file,
            filename=file.filename or "upload",
            owner=principal.owner,
            recipe=recipe if isinstance(recipe, str) and recipe else None,
            content_type=content_type,
            metadata=_metadata(meta if isinstance(meta, str) else None),
            idempotency_key=idempotency_key,
        )
        return accepted_answer(request, result)
    if media == "application/json":
        try:
            body = UploadJson.model_validate_json(await request.body())
        except ValidationError as exc:
            raise from_validation(exc) from None
        content_type = check_media_type(body.content_type)
        try:
            data = base64.b64decode(body.data, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(("body", "data"), "not valid base64") from None
        if len(data) > svc.settings.limits.max_bytes:
            raise HTTPException(
                413, f"file is over the limit of {svc.settings.limits.max_bytes:,} bytes"
            )
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
            spool.write(data)
            spool.seek(0)
            result = await run_in_threadpool(
                _accept,
                svc,
                spool,
                filename=body.filename,
                owner=principal.owner,
                recipe=body.recipe,
                content_type=content_type,
                metadata=body.metadata,
                idempotency_key=idempotency_key,
            )
        return accepted_answer(request, result)
    raise HTTPException(415, "send multipart/form-data (a 'file' part) or application/json")


@router.post(
    "/upload/presign",
    response_model=PresignResponse,
    responses=ERRORS,
    summary="A signed URL to PUT one picture to",
)
def presign(
    request: Request, body: PresignRequest, principal: Principal = Depends(authenticate)
) -> PresignResponse:
    svc = services(request)
    content_type = check_media_type(body.content_type)
    if body.size > svc.settings.limits.max_bytes:
        raise HTTPException(
            413, f"size is over the limit of {svc.settings.limits.max_bytes:,} bytes"
        )
    recipe = body.recipe or svc.settings.recipe
    try:
        svc.runtime.recipes.get(recipe)
    except RecipeError as exc:
        raise invalid(("body", "recipe"), str(exc)) from None
    expires = time.time() + svc.settings.presign_ttl_seconds
    if isinstance(svc.runtime.blobs, DirectUploads):
        return _presigned_post(
            svc.runtime.blobs, svc.settings, principal, body, content_type, recipe, expires
        )
    grant = Grant(
        image_id=new_id(),
        owner=principal.owner,
        filename=body.filename,
        content_type=content_type,
        max_size=body.size,
        sha256=body.sha256,
        recipe=recipe,
        expires_at=expires,
    )
    base = (svc.settings.public_url or str(request.base_url)).rstrip("/")
    return PresignResponse(
        url=f"{base}/upload/presigned/{svc.signer.sign(grant)}",
        method="PUT",
        headers={"Content-Type": content_type},
        expires_at=datetime.fromtimestamp(expires, UTC).isoformat(),
        image_id=grant.image_id,
    )


def _presigned_post(
    store: DirectUploads,
    settings: Settings,
    principal: Principal,
    body: PresignRequest,
    content_type: str,
    recipe: str,
    expires: float,
) -> PresignResponse:
    """Storage on S3: the client posts straight to the bucket, and the bucket's notification
    brings the object in (lambdas/arrivals.py reads the image id and recipe back from it)."""
    if body.sha256 is not None:
        # A POST policy cannot bind the bytes' checksum: refusing beats silently not checking.
        raise invalid(
            ("body", "sha256"), "uploads straight to S3 cannot be held to a checksum: omit sha256"
        )
    image_id = new_id()
    form = store.presigned_post(
        presigned_key(principal.owner, image_id, body.filename),
        content_type,
        body.size,
        settings.presign_ttl_seconds,
        metadata={"recipe": recipe},
    )
    return PresignResponse(
        url=form["url"],
        method="POST",
        headers={},
        fields=form["fields"],
        expires_at=datetime.fromtimestamp(expires, UTC).isoformat(),
        image_id=image_id,
    )


@router.put(
    "/upload/presigned/{token}",
    status_code=202,
    response_model=Accepted,
    responses={
        403: {"description": "expired, altered, reused, or not what was signed"},
        413: {"description": "too large"},
    },
    summary="Send the bytes to a presigned URL (no API key: the URL is the credential)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def presigned_put(request: Request, token: str) -> Accepted:
    svc = services(request)
    try:
        grant = svc.signer.verify(token)
    except PresignError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    # One PUT per grant: a second one, concurrent or later, is refused and cannot overwrite.
    if grant.image_id in svc.presigned_in_flight or (
        await run_in_threadpool(svc.runtime.catalog.get_image, grant.image_id) is not None
    ):
        raise HTTPException(403, "this upload URL has already been used")
    svc.presigned_in_flight.add(grant.image_id)
    try:
        return await _receive(request, svc, grant)
    finally:
        svc.presigned_in_flight.discard(grant.image_id)


async def _receive(request: Request, svc: Services, grant: Grant) -> Accepted:
    sent_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if sent_type != grant.content_type:
        raise HTTPException(
            403, f"Content-Type {sent_type or 'missing'!r} is not the signed {grant.content_type!r}"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > grant.max_size:
        raise HTTPException(
            413, f"body of {int(declared):,} bytes is over the signed size of {grant.max_size:,}"
        )
    digest = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        async for chunk in request.stream():
            size += len(chunk)
            if size > grant.max_size:
                raise HTTPException(
                    413, f"body is over the signed size of {grant.max_size:,} bytes"
                )
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise invalid(("body",), "empty body")
        if grant.sha256 is not None and digest.hexdigest() != grant.sha256:
            raise HTTPException(
                403, "SHA-256 of the body does not match the signed one; nothing was stored"
            )
        spool.seek(0)
        try:
            result = await run_in_threadpool(
                _accept,
                svc,
                spool,
                filename=grant.filename,
                owner=grant.owner,
                recipe=grant.recipe,
                content_type=grant.content_type,
                metadata={},
                idempotency_key=None,
                image_id=grant.image_id,
            )
        except IntegrityError:
            raise HTTPException(403, "this upload URL has already been used") from None
    return accepted_answer(request, result)
