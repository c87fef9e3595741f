"""POST /upload (multipart or JSON), POST /upload/presign and the presigned PUT."""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from typing import IO, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from darkroom.api.errors import COMMON, VALIDATION_SCHEMA, from_validation, invalid
from darkroom.api.schemas import ACCEPTED_TYPES, METADATA, Accepted, Links, UploadJson
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.domain.errors import RecipeError
from darkroom.domain.portraits import ConsentRefused
from darkroom.engine.consent import InvalidPortraitRequest
from darkroom.engine.intake import Accepted as Intake
from darkroom.imaging import ACCEPTED_NAMES

router = APIRouter(tags=["uploads"], responses=COMMON)


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
                        "recipe": {
                            "type": "string",
                            "maxLength": 64,
                            "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                        },
                        "metadata": {"type": "string", "description": "a JSON object"},
                    },
                }
            },
            "application/json": {"schema": UploadJson.model_json_schema()},
        },
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the same Idempotency-Key is still being received: retry"},
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
            f"unsupported media type {media!r}: send an image ({ACCEPTED_NAMES}) "
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
    except ConsentRefused as exc:  # a consent-checked recipe (portraits): nothing was stored
        raise HTTPException(403, str(exc)) from None
    except InvalidPortraitRequest as exc:
        raise invalid(("body", "metadata", exc.field), str(exc)) from None


MAX_METADATA_TEXT = 64 * 1024


def _metadata(text: str | None) -> dict[str, Any]:
    """A multipart upload's metadata field, held to the same schema as a JSON upload's."""
    if not text:
        return {}
    if len(text) > MAX_METADATA_TEXT:
        raise invalid(("body", "metadata"), f"over {MAX_METADATA_TEXT:,} characters")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(("body", "metadata"), f"not JSON: {exc}") from None
    except RecursionError:
        raise invalid(("body", "metadata"), "nested too deeply") from None
    if not isinstance(value, dict):
        raise invalid(("body", "metadata"), "must be a JSON object")
    try:
        return METADATA.validate_python(value)
    except ValidationError as exc:
        raise from_validation(exc, prefix="metadata") from None


async def _read_capped(request: Request, cap: int) -> bytes:
    """The body, refused with 413 as soon as it passes `cap` (never held whole beyond it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise HTTPException(413, _json_too_large(cap))
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise HTTPException(413, _json_too_large(cap))
        parts.append(chunk)
    return b"".join(parts)


def _json_too_large(cap: int) -> str:
    return (
        f"JSON uploads are limited to {cap:,} bytes (base64 included); send larger files as "
        "multipart/form-data or through POST /upload/presign"
    )


def _decode_json_upload(raw: bytes, max_bytes: int) -> tuple[UploadJson, bytes]:
    """Parse and base64-decode off the event loop (a large body would stall every request)."""
    try:
        body = UploadJson.model_validate_json(raw)
    except ValidationError as exc:
        raise from_validation(exc) from None
    try:
        data = base64.b64decode(body.data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(("body", "data"), "not valid base64") from None
    if len(data) > max_bytes:
        raise HTTPException(413, f"file is over the limit of {max_bytes:,} bytes")
    return body, data


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
        limits = svc.settings.limits
        raw = await _read_capped(request, limits.max_json_upload_bytes)
        body, data = await run_in_threadpool(_decode_json_upload, raw, limits.max_bytes)
        del raw
        content_type = check_media_type(body.content_type)
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
