"""POST /consents, GET and DELETE /consents/{user_id}: a visitor's consent (the portraits
recipe), scoped to the caller's owner, recorded with the time and the key that recorded it.
Withdrawing (agree: false, or DELETE) erases the visitor's selfies, crops and portraits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field, field_validator

from darkroom.adapters.sql.portraits import SqlPortraitStore
from darkroom.api.errors import COMMON, invalid
from darkroom.api.routes.uploads import services
from darkroom.api.schemas import Strict
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.domain.portraits import MAX_USER_ID, check_user_id
from darkroom.engine.consent import erase_visitor

router = APIRouter(tags=["portraits"], responses=COMMON)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no consent recorded"}}


class ConsentIn(Strict):
    user_id: str = Field(min_length=1, max_length=MAX_USER_ID, description="the kiosk's own id")
    name: str | None = Field(default=None, max_length=200)
    agree: bool

    @field_validator("user_id")
    @classmethod
    def _opaque(cls, value: str) -> str:
        return check_user_id(value)


def store(svc: Services) -> SqlPortraitStore:
    portraits = svc.runtime.portraits
    if portraits is None:
        raise HTTPException(503, "consents are not configured in this deployment")
    return portraits


def withdraw(svc: Services, principal: Principal, user_id: str) -> dict[str, Any]:
    """Record the withdrawal first (so no new upload is admitted), then erase."""
    rt = svc.runtime
    consent = store(svc).record_consent(principal.owner, user_id, None, False, principal.key.id)
    erased = erase_visitor(
        store(svc),
        rt.catalog,
        rt.blobs,
        rt.outbox,
        principal.owner,
        user_id,
        (rt.vectors, rt.text),
        rt.detections,
    )
    return {**consent.to_json(), "erased": erased.to_json()}


@router.post("/consents", summary="Record a visitor's consent (agree: false withdraws it)")
def record(
    body: ConsentIn, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    svc = services(request)
    if not body.agree:
        return withdraw(svc, principal, body.user_id)
    consent = store(svc).record_consent(
        principal.owner, body.user_id, body.name, True, principal.key.id
    )
    return consent.to_json()


@router.get("/consents/{user_id:path}", responses=NOT_FOUND, summary="A visitor's consent")
def show(
    user_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    consent = store(services(request)).consent(principal.owner, user_id)
    if consent is None:
        raise HTTPException(404, "no consent recorded for this user_id")
    return consent.to_json()


@router.delete(
    "/consents/{user_id:path}",
    summary="Withdraw consent: the visitor's selfies, crops and portraits are erased",
)
def delete(
    user_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    try:
        check_user_id(user_id)
    except ValueError as exc:
        raise invalid(("path", "user_id"), str(exc)) from None
    return withdraw(services(request), principal, user_id)
