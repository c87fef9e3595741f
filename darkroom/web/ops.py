"""Operations, for admin keys only: the dead-letter queue (error, traceback, replay one or all),
webhook deliveries (replay), queue depth and throughput, step latency, and API keys."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from darkroom.adapters.sql.keys import ApiKey
from darkroom.api.routes import admin as api_admin
from darkroom.api.routes.uploads import services
from darkroom.engine import dlq
from darkroom.web import queries
from darkroom.web.auth import Visitor, admin
from darkroom.web.render import page

router = APIRouter()
OWNER = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def back(note: str = "") -> RedirectResponse:
    return RedirectResponse("/ui/ops" + (f"?note={note}" if note else ""), status_code=303)


def _ops_page(
    request: Request, visitor: Visitor, note: str = "", created: tuple[ApiKey, str] | None = None
) -> Response:
    svc = services(request)
    rt = svc.runtime
    return page(
        request,
        "ops.html",
        visitor,
        stats=api_admin.stats(request, visitor.principal),
        letters=rt.queue.dead_letters(100),
        deliveries=rt.webhooks.deliveries(limit=50),
        latency=queries.step_latency(rt.db),
        keys=svc.keys.list(),
        plans=sorted(svc.settings.plans),
        default_plan=svc.settings.default_plan,
        note=note,
        created=created,
    )


@router.get("/ops")
def ops_page(request: Request, visitor: Visitor = Depends(admin)) -> Response:
    return _ops_page(request, visitor, request.query_params.get("note", "")[:200])


@router.post("/ops/dlq/replay-all")
def replay_all(request: Request, visitor: Visitor = Depends(admin)) -> Response:
    rt = services(request).runtime
    return back(f"replayed {dlq.replay_all(rt.catalog, rt.queue)} jobs")


@router.post("/ops/dlq/{job_id}/replay")
def replay(job_id: str, request: Request, visitor: Visitor = Depends(admin)) -> Response:
    api_admin.replay(job_id, request, visitor.principal)
    return back(f"replayed job {job_id}")


@router.post("/ops/deliveries/{delivery_id}/replay")
async def replay_delivery(
    delivery_id: str, request: Request, visitor: Visitor = Depends(admin)
) -> Response:
    form = await request.form()
    rt = services(request).runtime
    subscription = str(form.get("subscription") or "")
    if not rt.webhooks.replay(subscription, delivery_id):
        raise HTTPException(404, f"no delivery {delivery_id!r}")
    return back(f"delivery {delivery_id} sent again")


@router.post("/ops/keys")
async def create_key(request: Request, visitor: Visitor = Depends(admin)) -> Response:
    form = await request.form()
    svc = services(request)
    owner = str(form.get("owner") or "").strip()
    plan = str(form.get("plan") or svc.settings.default_plan)
    if not OWNER.match(owner):
        raise HTTPException(422, "an owner is 1-128 letters, digits, dots, dashes, underscores")
    if plan not in svc.settings.plans:
        raise HTTPException(422, f"unknown plan {plan!r}")
    created = svc.keys.create(owner, plan, admin=form.get("admin") == "on")
    return _ops_page(request, visitor, created=created)


@router.post("/ops/keys/{key_id}/revoke")
def revoke_key(key_id: str, request: Request, visitor: Visitor = Depends(admin)) -> Response:
    if key_id == visitor.principal.key.id:
        raise HTTPException(409, "that is the key you are signed in with")
    if not services(request).keys.revoke(key_id):
        raise HTTPException(404, f"no live key {key_id!r}")
    return back(f"revoked key {key_id}")
