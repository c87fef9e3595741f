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
from darkroom.engine.facets import check_filters
from darkroom.engine.search import Hit
from darkroom.views import hit_fields

router = APIRouter(tags=["search"], responses=COMMON)


class SearchHit(ImageOut):
    score: float = Field(
        description="0-1, best first: cosine similarity for pictures; for words, the full-text "
        "rank relative to the best hit (1), or with a text embedder both rankings fused (1: "
        "first in both)"
    )
    scores: dict[str, float] = Field(
        description="each kind's own 0-1 score: `text` (relative full-text rank), `vector` "
        "(cosine similarity)"
    )
    frame_ms: int | None = Field(default=None, description="a video: its best-matching moment")
    frame_thumbnail: str | None = Field(default=None, description="where that keyframe is stored")
    frame_url: str | None = Field(
        default=None, description="that keyframe through this API (GET, with the same key)"
    )


class SearchResults(BaseModel):
    items: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="per facet family, value -> count among this query's answers",
    )


class SimilarById(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_id: str = Field(min_length=1, max_length=64)
    limit: int = Field(default=10, ge=1, le=200)
    min_score: float | None = Field(default=None, ge=-1, le=1)
    class_: str | None = Field(default=None, alias="class", max_length=64)
    facets: dict[str, list[str]] = Field(
        default_factory=dict, description="facet filters: family -> values (any of them)"
    )


def _results(
    request: Request,
    svc: Services,
    hits: list[Hit],
    facets: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    images = {i.id: i for i in svc.runtime.catalog.images_by_ids([h.image_id for h in hits])}
    items = [
        {**image_out(request, svc, images[h.image_id]), **hit_fields(h, svc.runtime.blobs)}
        for h in hits
        if h.image_id in images
    ]
    return {"items": items, "facets": facets or {}}


_SEARCH_PARAMETERS = {"q", "class", "limit", "min_score"}


def facet_filters(request: Request) -> dict[str, list[str]]:
    """Every other query parameter is a facet filter: `colour=red&colour=blue` (or
    `colour=red,blue`) is either colour; families combine with AND."""
    found: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name not in _SEARCH_PARAMETERS:
            found.setdefault(name, []).extend(value.split(","))
    try:
        return check_filters(found)
    except ValueError as exc:
        raise invalid(("query",), str(exc)) from None


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
    fused with text-to-image vectors when the embedder has a text side. Best first.

    Any other parameter filters by a facet (`colour=red&category=dress`: AND across families,
    OR within one, repeated or comma-separated), and `facets` counts each family's values among
    the answers (for a family, over the answers that pass the other families' filters)."""
    svc = services(request)
    facets = facet_filters(request)
    filters = {"class_name": class_name} if class_name else None
    found = svc.runtime.search.by_text_faceted(
        principal.owner, q, facets, limit, min_score, filters
    )
    return _results(request, svc, found.hits, found.facets)


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
        try:
            facets = check_filters(body.facets)
        except ValueError as exc:
            raise invalid(("body", "facets"), str(exc)) from None
        found = await run_in_threadpool(
            svc.runtime.search.like_image_faceted,
            principal.owner,
            body.image_id,
            facets,
            body.limit,
            body.min_score,
            filters,
        )
        if found is None:
            raise HTTPException(
                404, "that image has no vector yet (still processing, or not embedded)"
            )
        return await run_in_threadpool(_results, request, svc, found.hits, found.facets)
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
        try:
            hits = await run_in_threadpool(
                svc.runtime.search.like_picture,
                principal.owner,
                file.file,
                limit,
                min_score,
                filters,
            )
        except Rejected as exc:
            raise invalid(("body", "file"), str(exc)) from None
        return await run_in_threadpool(_results, request, svc, hits)
    raise HTTPException(
        415, "send application/json with an image_id, or multipart/form-data with a file"
    )
