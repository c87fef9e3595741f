"""POST /upload/presign and the presigned PUT it hands out (or S3's own presigned POST)."""

from __future__ import annotations

import hashlib
import tempfile
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from darkroom.api.errors import COMMON, invalid
from darkroom.api.presign import Grant, PresignError
from darkroom.api.routes.uploads import (
    ERRORS,
    _accept,
    accepted_answer,
    check_media_type,
    services,
)
from darkroom.api.schemas import Accepted, PresignRequest, PresignResponse
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.domain.errors import RecipeError
from darkroom.domain.ids import new_id
from darkroom.engine.consent import consent_checked
from darkroom.engine.intake import Accepted as Intake
from darkroom.engine.intake import presigned_key
from darkroom.ports import DirectUploads
from darkroom.settings import Settings

router = APIRouter(tags=["uploads"], responses=COMMON)


def link_base(request: Request, settings: Settings) -> str:
    """Where presigned links point: the configured public URL, else this request's host when it
    is a trusted one. A client must not choose the host of the links it hands to others."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = (request.headers.get("host") or "").strip().lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name not in {trusted.lower() for trusted in settings.trusted_hosts}:
        raise HTTPException(
            400,
            f"Host {host!r} is not a trusted host for presigned links: set DARKROOM_PUBLIC_URL "
            "(or add the host to DARKROOM_TRUSTED_HOSTS)",
        )
    return str(request.base_url).rstrip("/")


@router.post(
    "/upload/presign",
    response_model=PresignResponse,
    responses={**ERRORS, 400: {"description": "the request's Host is not a trusted one"}},
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
        compiled = svc.runtime.recipes.get(recipe)
    except RecipeError as exc:
        raise invalid(("body", "recipe"), str(exc)) from None
    if consent_checked(compiled):  # a URL straight to S3 would skip the consent check
        raise invalid(
            ("body", "recipe"),
            f"recipe {recipe!r} checks the visitor's consent: ask POST /portraits for the URL",
        )
    expires = time.time() + svc.settings.presign_ttl_seconds
    if isinstance(svc.runtime.blobs, DirectUploads):
        return _presigned_post(
            svc.runtime.blobs, svc.settings, principal, body, content_type, recipe, expires
        )
    base = link_base(request, svc.settings)
    grant = Grant(
        image_id=new_id(),
        owner=principal.owner,
        filename=body.filename,
        content_type=content_type,
        max_size=body.size,
        sha256=body.sha256,
        recipe=recipe,
        expires_at=expires,
        key_id=principal.key.id,
    )
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
        403: {"description": "expired, altered, reused, revoked, or not what was signed"},
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
    if grant.key_id and not await run_in_threadpool(svc.keys.is_active, grant.key_id):
        raise HTTPException(403, "the API key that issued this upload URL has been revoked")
    # One PUT per URL, ever: the claim is taken before a byte of the body is read, so of two
    # concurrent PUTs one proceeds and the bytes stored are always that one's.
    claim = f"presigned:{grant.image_id}"
    claims = svc.runtime.claims
    claimed = await run_in_threadpool(claims.take, claim, grant.owner, grant.expires_at)
    if not claimed:
        raise HTTPException(403, "this upload URL has already been used")
    result: Intake | None = None
    try:
        result = await _receive(request, svc, grant)
    finally:
        if result is None:  # nothing stored: the client may try again with the same URL
            await run_in_threadpool(claims.release, claim)
        else:
            await run_in_threadpool(claims.settle, claim)
    return accepted_answer(request, result)


async def _receive(request: Request, svc: Services, grant: Grant) -> Intake:
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
        return await run_in_threadpool(
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
