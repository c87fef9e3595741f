"""GET /search (words) and POST /search/similar (an image id, or a picture)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from darkroom.api.errors import COMMON, VALIDATION_SCHEMA, invalid
from darkroom.api.routes.images import image_out
from darkroom.api.routes.uploads import services
from darkroom.api.schemas import ImageOut
from darkroom.api.security import Principal, authenticate
from darkroom.api.services import Services
from darkroom.domain.errors import Rejected
from darkroom.engine.search import Hit
from darkroom.views import hit_fields

router = APIRouter(tags=["search"], responses=COMMON)


class SearchHit(ImageOut):
    score: float
    scores: dict[str, float]
    frame_ms: int | None = Field(default=None, description="a video: its best-matching moment")
    frame_thumbnail: str | None = None


class SearchResults(BaseModel):
    items: list[SearchHit]


class SimilarById(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_id: str = Field(min_length=1, max_length=64)
    limit: int = Field(default=10, ge=1, le=200)
    min_score: float | None = Field(default=None, ge=-1, le=1)
    class_: str | None = Field(default=None, alias="class", max_length=64)


def _results(request: Request, svc: Services, hits: list[Hit]) -> dict[str, Any]:
    images = {i.id: i for i in svc.runtime.catalog.images_by_ids([h.image_id for h in hits])}
    items = [
        {**image_out(request, svc, images[h.image_id]), **hit_fields(h, svc.runtime.blobs)}
        for h in hits
        if h.image_id in images
    ]
    return {"items": items}


@router.get("/search", response_model=SearchResults, response_model_by_alias=True)
def search(
    request: Request,
    q: str = Query(min_length=1, max_length=500, description="words to find"),
    class_name: str | None = Query(default=None, alias="class", max_length=64),
    limit: int = Query(default=10, ge=1, le=200),
    min_score: float | None = Query(default=None, ge=-1, le=1),
    principal: Principal = Depends(authenticate),
) -> dict[str, Any]:
    """Images whose words (file name, class, labels, captions, tags) hold every word of `q`,
    fused with text-to-image vectors when the embedder has a text side. Best first."""
    svc = services(request)
    filters = {"class_name": class_name} if class_name else None
    hits = svc.runtime.search.by_text(principal.owner, q, limit, min_score, filters)
    return _results(request, svc, hits)


SIMILAR_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SimilarById.model_json_schema(by_alias=True)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
                        "min_score": {"type": "number", "minimum": -1, "maximum": 1},
                        "sku": {"type": "string", "maxLength": 100},
                        "media": {"type": "string", "enum": ["image", "video"]},
                    },
                }
            },
        },
    }
}


@router.post(
    "/search/similar",
    response_model=SearchResults,
    response_model_by_alias=True,
    openapi_extra=SIMILAR_BODY,
    responses={
        404: {"description": "no such image for this owner, or it has no vector yet"},
        415: {"description": "neither JSON nor multipart"},
        422: {
            "description": "invalid request",
            "content": {"application/json": {"schema": VALIDATION_SCHEMA}},
        },
    },
)
async def similar(request: Request, principal: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Pictures that look like an image already here (JSON `image_id`) or like a sent picture
    (multipart `file`). Scores are cosine similarities; below the threshold nothing is answered."""
    svc = services(request)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            body = SimilarById.model_validate_json(await request.body())
        except ValueError as exc:
            raise invalid(("body",), str(exc).splitlines()[0]) from None
        if (
            await run_in_threadpool(svc.runtime.catalog.get_image, body.image_id, principal.owner)
            is None
        ):
            raise HTTPException(404, f"no image {body.image_id!r}")
        filters = {"class_name": body.class_} if body.class_ else None
        hits = await run_in_threadpool(
            svc.runtime.search.like_image,
            principal.owner,
            body.image_id,
            body.limit,
            body.min_score,
            filters,
        )
        if hits is None:
            raise HTTPException(
                404, "that image has no vector yet (still processing, or not embedded)"
            )
        return await run_in_threadpool(_results, request, svc, hits)
    if media == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=7)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise invalid(("body", "file"), "send the picture as a 'file' part")
        try:
            limit = int(str(form.get("limit") or 10))
            min_score = float(str(form["min_score"])) if form.get("min_score") else None
        except ValueError:
            raise invalid(("body",), "limit and min_score must be numbers") from None
        if not 1 <= limit <= 200 or (min_score is not None and not -1 <= min_score <= 1):
            raise invalid(("body",), "limit is 1-200, min_score -1..1")
        wanted = {"sku": form.get("sku"), "media": form.get("media")}
        filters = {key: str(value) for key, value in wanted.items() if value} or None
        if filters and filters.get("media", "image") not in ("image", "video"):
            raise invalid(("body", "media"), "media is image or video")
        data = await file.read()
        try:
            hits = await run_in_threadpool(
                svc.runtime.search.like_picture, principal.owner, data, limit, min_score, filters
            )
        except Rejected as exc:
            raise invalid(("body", "file"), str(exc)) from None
        return await run_in_threadpool(_results, request, svc, hits)
    raise HTTPException(
        415, "send application/json with an image_id, or multipart/form-data with a file"
    )
