"""Health and metrics: no key needed (put them behind your network's edge)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from darkroom import metrics
from darkroom.api.routes.uploads import services
from darkroom.api.schemas import Health
from darkroom.providers.registry import readiness

router = APIRouter(tags=["operations"])


@router.get(
    "/health", response_model=Health, responses={503: {"model": Health, "description": "not ready"}}
)
def health(request: Request) -> JSONResponse:
    """Liveness and readiness: the database answers, storage takes a write, the queue reports."""
    rt = services(request).runtime
    checks: dict[str, str] = {}
    depth = None
    try:
        depth = rt.queue.depth()
        checks["database"] = checks["queue"] = "ok"
    except Exception as exc:
        checks["database"] = checks["queue"] = f"failed: {type(exc).__name__}: {exc}"
    probe = f"health/{uuid.uuid4().hex}"
    try:
        rt.blobs.put(probe, b"ok")
        ok = rt.blobs.get(probe) == b"ok"
        rt.blobs.delete(probe)
        checks["storage"] = "ok" if ok else "failed: read back other bytes"
    except Exception as exc:
        checks["storage"] = f"failed: {type(exc).__name__}: {exc}"
    healthy = all(value == "ok" for value in checks.values())
    body = Health(
        status="ok" if healthy else "degraded",
        checks=checks,
        queue=depth,
        providers=readiness(rt.settings),
    )
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def prometheus(request: Request) -> Response:
    rt = services(request).runtime
    page = metrics.exposition(rt.catalog.image_counts, rt.queue.depth)
    return Response(page, media_type="text/plain; version=0.0.4; charset=utf-8")
