"""Signing in, the gallery, one image, and upload. Every read and action goes through the API's
own route functions with the signed-in key, so the UI shows and does exactly what the API
would for that key (the same owner scoping, the same 404 for someone else's image)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from darkroom.api.errors import from_validation
from darkroom.api.routes import images as api_images
from darkroom.api.routes import presigned as api_presigned
from darkroom.api.routes.uploads import services
from darkroom.api.schemas import PresignRequest
from darkroom.api.security import authenticate
from darkroom.domain.errors import RecipeError
from darkroom.domain.records import FINAL_STATUSES, Image, ImageStatus
from darkroom.engine import lifecycle
from darkroom.engine.review import classes_of
from darkroom.ports import ImageQuery
from darkroom.web import queries
from darkroom.web.auth import Visitor, codec, current_session, signed_in
from darkroom.web.csrf import same_origin
from darkroom.web.render import page
from darkroom.web.session import COOKIE, MAX_AGE

router = APIRouter()
PAGE_SIZE = 48


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- signing in ---------------------------------------------------------------------------------


@router.get("/signin")
def signin_form(request: Request) -> Response:
    if current_session(request) is not None:
        return see_other("/ui/")
    return page(request, "signin.html", reason=request.query_params.get("reason", ""))


@router.post("/signin")
async def signin(request: Request) -> Response:
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    form = await request.form()
    secret = str(form.get("api_key") or "").strip()
    try:
        authenticate(request, secret)
    except HTTPException as exc:
        return page(request, "signin.html", reason=str(exc.detail), status_code=exc.status_code)
    sessions = codec(request)
    answer = see_other("/ui/")
    answer.set_cookie(
        COOKIE,
        sessions.encode(sessions.new(secret)),
        max_age=MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return answer


@router.post("/signout")
def signout(visitor: Visitor = Depends(signed_in)) -> Response:
    answer = see_other("/ui/signin")
    answer.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return answer


# -- the gallery --------------------------------------------------------------------------------


def _day(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(422, f"not a date (YYYY-MM-DD): {text!r}") from None


def _filters(request: Request) -> dict[str, str]:
    wanted = ("class", "status", "uncertain", "recipe", "from", "to")
    return {k: v for k in wanted if (v := request.query_params.get(k, "").strip())}


def _query(owner: str, filters: dict[str, str], cursor: str | None) -> ImageQuery:
    status = filters.get("status")
    if status is not None and status not in {s.value for s in ImageStatus}:
        raise HTTPException(422, f"unknown status {status!r}")
    until = _day(filters.get("to"))
    return ImageQuery(
        owner=owner,
        status=ImageStatus(status) if status else None,
        class_name=filters.get("class"),
        uncertain={"yes": True, "no": False}.get(filters.get("uncertain", "")),
        recipe=filters.get("recipe"),
        created_after=_day(filters.get("from")),
        created_before=until.replace(hour=23, minute=59, second=59) if until else None,
        after_id=api_images.decode_cursor(cursor) if cursor else None,
        limit=PAGE_SIZE + 1,
        newest_first=True,
    )


def _page_of(request: Request, visitor: Visitor) -> tuple[list[Image], str | None]:
    filters = _filters(request)
    cursor = request.query_params.get("cursor") or None
    found = services(request).runtime.catalog.list_images(_query(visitor.owner, filters, cursor))
    tiles = found[:PAGE_SIZE]
    more = len(found) > PAGE_SIZE and tiles
    if not more:
        return tiles, None
    query = urlencode({"cursor": api_images.encode_cursor(tiles[-1].id), **filters})
    return tiles, f"/ui/gallery/more?{query}"


@router.get("/")
def gallery(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    tiles, more = _page_of(request, visitor)
    rt = services(request).runtime
    counts = queries.counts(rt.catalog.image_counts(visitor.owner))
    return page(
        request,
        "gallery.html",
        visitor,
        tiles=tiles,
        more=more,
        filters=_filters(request),
        counts=counts,
        recipes=rt.recipes.names(),
        statuses=[s.value for s in ImageStatus],
        per_day=queries.per_class_per_day(rt.db, visitor.owner),
        final=FINAL_STATUSES,
    )


@router.get("/gallery/more")
def gallery_more(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    tiles, more = _page_of(request, visitor)
    return page(request, "_tiles.html", visitor, tiles=tiles, more=more, final=FINAL_STATUSES)


@router.get("/tiles/{image_id}")
def tile(image_id: str, request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    rt = services(request).runtime
    image = api_images.owned(services(request), image_id, visitor.principal)
    steps = None
    if image.status not in FINAL_STATUSES and image.job_id:
        # Where its job is: steps done of the recipe's, shown while the tile polls.
        try:
            total = len(rt.recipes.get(image.recipe).steps)
        except RecipeError:
            total = 0
        steps = (len(rt.catalog.step_outputs(image.job_id)), total)
    return page(request, "_tile.html", visitor, image=image, final=FINAL_STATUSES, steps=steps)


# -- one image ----------------------------------------------------------------------------------


@router.get("/images/{image_id}")
def image_page(image_id: str, request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    svc = services(request)
    principal = visitor.principal
    record = api_images.get_image(image_id, request, principal)
    image = api_images.owned(svc, image_id, principal)
    duplicates = api_images.duplicates(image_id, request, principal)
    analyses = svc.runtime.catalog.analyses(image.id)
    return page(
        request,
        "image.html",
        visitor,
        image=image,
        record=record,
        boxes=[label for label in image.labels if label.box],
        duplicates=duplicates,
        analyses=[a.to_json() for a in analyses],
        events=queries.events_about(svc.runtime.db, image.id),
        deliveries=queries.deliveries_about(svc.runtime.db, image.id, visitor.owner),
        review=svc.runtime.reviews.latest(image.id),
        choices=classes_of(svc.runtime.recipes, image.recipe),
        final=image.status in FINAL_STATUSES,
    )


@router.get("/images/{image_id}/thumbnail")
def thumbnail(image_id: str, request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    size = request.query_params.get("size")
    return api_images.thumbnail(
        image_id, request, int(size) if size and size.isdigit() else None, visitor.principal
    )


@router.get("/images/{image_id}/keyframes/{ms}")
def keyframe(
    image_id: str, ms: int, request: Request, visitor: Visitor = Depends(signed_in)
) -> Response:
    return api_images.keyframe(image_id, ms, request, visitor.principal)


@router.get("/images/{image_id}/original")
def original(image_id: str, request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    return api_images.original(image_id, request, visitor.principal)


@router.post("/images/{image_id}/reprocess")
def reprocess(image_id: str, request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    svc = services(request)
    image = api_images.owned(svc, image_id, visitor.principal)
    rt = svc.runtime
    try:
        lifecycle.reprocess(rt.catalog, rt.queue, rt.recipes, image)
    except lifecycle.Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    return see_other(f"/ui/images/{image_id}")


@router.post("/images/{image_id}/delete")
def delete(image_id: str, request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    api_images.delete_image(image_id, request, visitor.principal)
    return see_other("/ui/")


# -- upload -------------------------------------------------------------------------------------


@router.get("/upload")
def upload_page(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    rt = services(request).runtime
    return page(
        request,
        "upload.html",
        visitor,
        recipes=rt.recipes.names(),
        default_recipe=rt.settings.recipe,
        max_bytes=rt.settings.limits.max_bytes,
    )


@router.post("/upload/presign")
async def presign(request: Request, visitor: Visitor = Depends(signed_in)) -> dict[str, Any]:
    """The API's presign for the signed-in key: the browser then sends the bytes straight to
    the URL (darkroom's own presigned PUT, or the bucket's POST form on S3)."""
    try:
        body = PresignRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise from_validation(exc) from None
    answer = await run_in_threadpool(api_presigned.presign, request, body, visitor.principal)
    return answer.model_dump()
