"""Admin routes: the dead-letter queue and statistics (admin keys only)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from darkroom.api.errors import COMMON
from darkroom.api.routes.uploads import services
from darkroom.api.schemas import DeadLetterOut, ReplayResult, Stats
from darkroom.api.security import Principal, require_admin
from darkroom.engine import dlq

router = APIRouter(tags=["admin"], responses=COMMON)
ADMIN: dict[int | str, dict[str, Any]] = {403: {"description": "needs an admin key"}}


@router.get("/dlq", response_model=list[DeadLetterOut], responses=ADMIN)
def dead_letters(
    request: Request,
    limit: int = Query(default=100, ge=1, le=10_000),
    _: Principal = Depends(require_admin),
) -> list[DeadLetterOut]:
    return [
        DeadLetterOut(
            job_id=letter.job.id,
            image_id=letter.job.image_id,
            owner=letter.job.owner,
            recipe=letter.job.recipe,
            attempts=letter.attempts,
            error=letter.error,
            failed_at=letter.failed_at.isoformat(),
        )
        for letter in services(request).runtime.queue.dead_letters(limit)
    ]


@router.post(
    "/dlq/{ident}/replay",
    status_code=202,
    response_model=ReplayResult,
    responses={**ADMIN, 404: {"description": "no such dead letter"}},
)
def replay(ident: str, request: Request, _: Principal = Depends(require_admin)) -> ReplayResult:
    rt = services(request).runtime
    letter = dlq.find(rt.queue, ident)
    if letter is None or not dlq.replay(rt.catalog, rt.queue, letter):
        raise HTTPException(404, f"no dead letter {ident!r}")
    return ReplayResult(replayed=1)


@router.get("/stats", response_model=Stats, responses=ADMIN)
def stats(request: Request, _: Principal = Depends(require_admin)) -> Stats:
    rt = services(request).runtime
    by_status: dict[str, int] = {}
    by_class: dict[str, int] = {}
    uncertain = 0
    for (status, class_name, is_uncertain), count in rt.catalog.image_counts().items():
        by_status[status] = by_status.get(status, 0) + count
        if status == "completed":
            by_class[class_name] = by_class.get(class_name, 0) + count
            uncertain += count if is_uncertain else 0
    return Stats(
        images_by_status=by_status,
        images_by_class=by_class,
        uncertain=uncertain,
        queue=rt.queue.depth(),
        throughput_per_minute=float(rt.catalog.count_finished_since(time.time() - 60)),
    )
