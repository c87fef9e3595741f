"""Webhook subscriptions, their deliveries, and replays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from darkroom.adapters.local.egress import EgressRefused
from darkroom.adapters.local.webhook_signing import check_secret, new_secret
from darkroom.adapters.local.webhooks import Subscription
from darkroom.api.errors import COMMON, VALIDATION_SCHEMA, invalid
from darkroom.api.routes.uploads import services
from darkroom.api.schemas import (
    DeliveryOut,
    ReplayResult,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.engine.event_types import known_event_types

router = APIRouter(tags=["webhooks"], responses=COMMON)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such webhook for this owner"}
}


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch is not None else None


def _out(subscription: Subscription) -> WebhookOut:
    return WebhookOut(
        id=subscription.id,
        url=subscription.url,
        detail_types=subscription.detail_types,
        created_at=_iso(subscription.created_at) or "",
    )


def _owned(svc: Services, webhook_id: str, principal: Principal) -> Subscription:
    for subscription in svc.runtime.webhooks.subscriptions(principal.owner):
        if subscription.id == webhook_id:
            return subscription
    raise HTTPException(404, f"no webhook {webhook_id!r}")


REFUSED: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "invalid body, an unknown event type (the message lists the known ones), "
        "a URL that is not https or resolves to a non-public address, a malformed whsec_ secret",
        "content": {"application/json": {"schema": VALIDATION_SCHEMA}},
    }
}


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, responses=REFUSED)
def create(
    request: Request, body: WebhookCreate, principal: Principal = Depends(authenticate)
) -> WebhookCreated:
    """Subscribe a URL to events. Every attempt is signed twice: `X-Darkroom-Signature` and
    the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."""
    runtime = services(request).runtime
    known = known_event_types(runtime.recipes.all())
    unknown = sorted(set(body.detail_types) - set(known))
    if unknown:
        raise invalid(
            ("body", "detail_types"),
            f"unknown event types: {', '.join(unknown)}; known: {', '.join(known)}",
        )
    try:
        runtime.webhooks.egress.check_url(str(body.url))
    except EgressRefused as exc:
        raise invalid(("body", "url"), str(exc)) from None
    made = body.secret is None
    secret = new_secret() if body.secret is None else body.secret
    try:
        check_secret(secret)
    except ValueError as exc:
        raise invalid(("body", "secret"), str(exc)) from None
    subscription = runtime.webhooks.subscribe(
        principal.owner, str(body.url), secret, body.detail_types
    )
    return WebhookCreated(**_out(subscription).model_dump(), secret=secret if made else None)


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(
    request: Request, principal: Principal = Depends(authenticate)
) -> list[WebhookOut]:
    return [_out(s) for s in services(request).runtime.webhooks.subscriptions(principal.owner)]


@router.delete(
    "/webhooks/{webhook_id}", status_code=204, responses=NOT_FOUND, response_class=Response
)
def delete(
    webhook_id: str, request: Request, principal: Principal = Depends(authenticate)
) -> Response:
    if not services(request).runtime.webhooks.unsubscribe(principal.owner, webhook_id):
        raise HTTPException(404, f"no webhook {webhook_id!r}")
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut], responses=NOT_FOUND
)
def deliveries(
    webhook_id: str,
    request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    principal: Principal = Depends(authenticate),
) -> list[DeliveryOut]:
    svc = services(request)
    _owned(svc, webhook_id, principal)
    return [
        DeliveryOut(
            id=row["id"],
            detail_type=row["detail_type"],
            state=row["state"],
            attempts=row["attempts"],
            last_status=row["last_status"],
            last_error=row["last_error"],
            created_at=_iso(row["created_at"]) or "",
            delivered_at=_iso(row["delivered_at"]),
            payload=row["payload"],
        )
        for row in svc.runtime.webhooks.deliveries(limit, subscription_id=webhook_id)
    ]


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=ReplayResult,
    responses=NOT_FOUND,
)
def replay_one(
    webhook_id: str,
    delivery_id: str,
    request: Request,
    principal: Principal = Depends(authenticate),
) -> ReplayResult:
    svc = services(request)
    _owned(svc, webhook_id, principal)
    count = svc.runtime.webhooks.replay(webhook_id, delivery_id=delivery_id)
    if not count:
        raise HTTPException(404, f"no delivery {delivery_id!r} for this webhook")
    return ReplayResult(replayed=count)


@router.post(
    "/webhooks/{webhook_id}/replay",
    status_code=202,
    response_model=ReplayResult,
    responses=NOT_FOUND,
)
def replay_since(
    webhook_id: str,
    request: Request,
    since: str | None = Query(
        default=None,
        pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$",
        description="ISO 8601 date or time (UTC when no offset is given): deliveries created "
        "at or after it (default: all)",
        examples=["2026-12-03T09:00:00Z"],
    ),
    failed_only: bool = Query(default=False, description="only the deliveries that failed"),
    principal: Principal = Depends(authenticate),
) -> ReplayResult:
    """Send again every delivery since a time, whatever its state (or only the failed ones)."""
    svc = services(request)
    _owned(svc, webhook_id, principal)
    return ReplayResult(
        replayed=svc.runtime.webhooks.replay(
            webhook_id, since=_instant(since) if since else None, failed_only=failed_only
        )
    )


def _instant(text: str) -> float:
    """An ISO 8601 time as epoch seconds. Only ISO: a bare number (`since=0.5`) is refused,
    where a datetime parameter would have read it as seconds since 1970."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(("query", "since"), f"not an ISO 8601 time: {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
