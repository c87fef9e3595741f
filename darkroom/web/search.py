"""The search page: words, and a dropped picture for "looks like", answered by the API's own
search routes with the same thresholds (nothing above them: "nothing fits")."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from darkroom.api.routes import search as api_search
from darkroom.api.routes.uploads import services
from darkroom.domain.errors import Rejected
from darkroom.web.auth import Visitor, signed_in
from darkroom.web.render import page

router = APIRouter()
LIMIT = 48


def _facets(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return Counter(str(item.get("class") or "(none)") for item in items).most_common()


@router.get("/search")
def search_page(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    q = request.query_params.get("q", "").strip()[:500]
    class_name = request.query_params.get("class") or None
    items: list[dict[str, Any]] | None = None
    if q:
        answer = api_search.search(request, q, class_name, LIMIT, None, visitor.principal)
        items = answer["items"]
    return page(
        request,
        "search.html",
        visitor,
        q=q,
        class_name=class_name or "",
        items=items,
        facets=_facets(items or []),
        mode="words",
    )


@router.post("/search/similar")
async def similar(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    form = await request.form(max_files=1, max_fields=5)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise HTTPException(422, "drop a picture, or choose one")
    data = await file.read()
    svc = services(request)
    try:
        hits = await run_in_threadpool(
            svc.runtime.search.like_picture, visitor.owner, data, LIMIT, None
        )
    except Rejected as exc:
        raise HTTPException(422, f"that file cannot be searched with: {exc}") from None
    answer = await run_in_threadpool(api_search._results, request, svc, hits)
    items = answer["items"]
    return page(
        request,
        "search.html",
        visitor,
        q="",
        class_name="",
        items=items,
        facets=_facets(items),
        mode="picture",
        picture_name=file.filename or "picture",
    )
