"""The kiosk's routes: POST /portraits (a presigned PUT for the selfie and the job's id),
GET /portraits/{job_id} (its status at every stage) and its result, and a visitor's latest
portrait and history under /users/{user_id}/.

A portrait job's id is its selfie's image id. User ids are opaque and may hold any printable
character, '/' included: the routes take them as the rest of the path, and they are never part
of a storage key.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import Field, field_validator

from darkroom.adapters.sql.portraits import PortraitRow
from darkroom.api.errors import COMMON, invalid
from darkroom.api.presign import Grant
from darkroom.api.routes.consents import store
from darkroom.api.routes.images import _blob_response
from darkroom.api.routes.uploads import check_media_type, services
from darkroom.api.schemas import Strict
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.domain.errors import RecipeError
from darkroom.domain.ids import new_id
from darkroom.domain.portraits import MAX_USER_ID, ConsentRefused, PortraitRequest, check_user_id
from darkroom.engine.consent import InvalidPortraitRequest, check_request, require_consent
from darkroom.settings import PortraitSettings

router = APIRouter(tags=["portraits"], responses=COMMON)
AWAITING_UPLOAD = "awaiting_upload"
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such portrait job"}}


class PortraitIn(Strict):
    user_id: str = Field(min_length=1, max_length=MAX_USER_ID)
    style: str = Field(min_length=1, max_length=64)
    gender: str | None = Field(default=None, max_length=64)
    content_type: str = Field(default="image/jpeg", description="of the selfie to be PUT")
    recipe: str = Field(default="portraits", max_length=64)

    @field_validator("user_id")
    @classmethod
    def _opaque(cls, value: str) -> str:
        return check_user_id(value)


def _time(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch is not None else None


def stylised(outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The stylise step's output, whatever the recipe named the step."""
    return next((o for o in outputs.values() if "result" in o and "style" in o), {})


def portrait_out(svc: Services, row: PortraitRow) -> dict[str, Any]:
    """A job as the kiosk sees it; with its portrait's URL, links and provenance once done."""
    request = row.request
    out: dict[str, Any] = {
        "job_id": request.image_id,
        "user_id": request.user_id,
        "style": request.style,
        "gender": request.gender,
        "status": row.status or AWAITING_UPLOAD,
        "requested_at": _time(request.created_at),
        "error": row.error,
    }
    if row.status == "completed":
        image = svc.runtime.catalog.get_image(request.image_id, request.owner)
        outputs = svc.runtime.catalog.step_outputs(image.job_id) if image and image.job_id else {}
        made = stylised(outputs)
        face = next((o for o in outputs.values() if "crop" in o), {})
        out.update(
            completed_at=_time(row.updated_at),
            image_url=f"/portraits/{request.image_id}/result",
            links=made.get("links", []),
            faces=face.get("faces"),
            provenance={
                key: made.get(key) for key in ("provider", "model_version", "seconds", "attempts")
            },
        )
    return out


def _row(svc: Services, principal: Principal, job_id: str) -> PortraitRow:
    request = store(svc).request(job_id, principal.owner)
    if request is None:
        raise HTTPException(404, f"no portrait job {job_id!r}")
    image = svc.runtime.catalog.get_image(job_id, principal.owner)
    if image is None:
        return PortraitRow(request, None, None, None)
    return PortraitRow(request, image.status.value, image.updated_at.timestamp(), image.error)


@router.post(
    "/portraits",
    status_code=201,
    responses={
        403: {"description": "no current consent"},
        415: {"description": "not an accepted media type"},
        422: {"description": "bad request"},
    },
    summary="Ask for a portrait: answers a presigned PUT for the selfie and the job's id",
)
def ask(
    body: PortraitIn, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    svc = services(request)
    content_type = check_media_type(body.content_type)
    try:
        recipe = svc.runtime.recipes.get(body.recipe)
        require_consent(store(svc), principal.owner, body.user_id)
        style, gender = check_request(recipe, svc.runtime.providers, body.style, body.gender)
    except RecipeError as exc:
        raise invalid(("body", "recipe"), str(exc)) from None
    except ConsentRefused as exc:
        raise HTTPException(403, str(exc)) from None
    except InvalidPortraitRequest as exc:
        raise invalid(("body", exc.field), str(exc)) from None
    now = time.time()
    expires = now + PortraitSettings().upload_ttl_seconds
    grant = Grant(
        image_id=new_id(),
        owner=principal.owner,
        filename="selfie",
        content_type=content_type,
        max_size=svc.settings.limits.max_bytes,
        sha256=None,
        recipe=body.recipe,
        expires_at=expires,
    )
    store(svc).add_request(
        PortraitRequest(grant.image_id, principal.owner, body.user_id, style, gender, now)
    )
    base = (svc.settings.public_url or str(request.base_url)).rstrip("/")
    return {
        "job_id": grant.image_id,
        "status": AWAITING_UPLOAD,
        "upload": {
            "url": f"{base}/upload/presigned/{svc.signer.sign(grant)}",
            "method": "PUT",
            "headers": {"Content-Type": content_type},
            "expires_at": _time(expires),
        },
        "links": {"self": f"/portraits/{grant.image_id}"},
    }


@router.get("/portraits/{job_id}", responses=NOT_FOUND, summary="A portrait job's status")
def status(
    job_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    svc = services(request)
    return portrait_out(svc, _row(svc, principal, job_id))


@router.get(
    "/portraits/{job_id}/result",
    responses={**NOT_FOUND, 200: {"content": {"image/*": {}}, "description": "the portrait"}},
    response_class=Response,
)
def result(job_id: str, request: Request, principal: Principal = Depends(authenticate)) -> Response:
    svc = services(request)
    row = _row(svc, principal, job_id)
    image = svc.runtime.catalog.get_image(job_id, principal.owner)
    if row.status != "completed" or image is None or image.job_id is None:
        raise HTTPException(
            404, f"portrait job {job_id!r} has no result ({row.status or AWAITING_UPLOAD})"
        )
    made = stylised(svc.runtime.catalog.step_outputs(image.job_id))
    key = made.get("result")
    if not isinstance(key, str) or not svc.runtime.blobs.exists(key):
        raise HTTPException(404, "the portrait is not stored (expired or erased)")
    return _blob_response(
        svc, key, str(made.get("media_type", "image/jpeg")), f"{job_id}-{image.job_id}", request
    )


@router.get(
    "/users/{user_id:path}/portrait",
    responses={404: {"description": "no completed portrait yet"}},
    summary="The visitor's latest completed portrait",
)
def latest(
    user_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    svc = services(request)
    row = store(svc).latest_completed(principal.owner, user_id)
    if row is None:
        raise HTTPException(404, "no completed portrait for this user_id yet")
    return portrait_out(svc, row)


@router.get("/users/{user_id:path}/portraits", summary="The visitor's portraits, newest first")
def history(
    user_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    svc = services(request)
    rows = store(svc).portraits(principal.owner, user_id)
    return {"items": [portrait_out(svc, row) for row in rows]}
