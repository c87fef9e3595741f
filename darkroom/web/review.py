"""The review page: the oldest uncertain image, large, one at a time; a key press confirms or
corrects its class (the API's Reviewer: a human label with provenance, the picture re-filed),
`s` skips it for now, `u` undoes the last decision."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from darkroom.api.routes import images as api_images
from darkroom.api.routes.uploads import services
from darkroom.engine.lifecycle import Conflict
from darkroom.engine.review import classes_of, review_queue
from darkroom.web import queries
from darkroom.web.auth import Visitor, signed_in
from darkroom.web.render import page

router = APIRouter()
MAX_SKIPS = 200


def _skipped(request: Request) -> list[str]:
    raw = request.query_params.get("skip", "")
    return [part for part in raw.split(",") if part.isalnum()][:MAX_SKIPS]


def shortcuts(choices: list[str]) -> list[tuple[str, list[str]]]:
    """(class, its keys): 1..9 in the recipe's order, and the class's first letter when no
    other class and no fixed key (s skip, u undo) takes it."""
    firsts = [name[:1].lower() for name in choices]
    pairs = []
    for index, name in enumerate(choices[:9], start=1):
        keys = [str(index)]
        first = name[:1].lower()
        if first.isalpha() and first not in {"s", "u"} and firsts.count(first) == 1:
            keys.append(first)
        pairs.append((name, keys))
    return pairs


@router.get("/review")
def review_page(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    rt = services(request).runtime
    skipped = _skipped(request)
    waiting = review_queue(rt.catalog, visitor.owner, limit=len(skipped) + 2)
    pending = [image for image in waiting if image.id not in skipped]
    image = pending[0] if pending else None
    choices = classes_of(rt.recipes, image.recipe) if image else []
    last = rt.reviews.last_by(visitor.owner, visitor.principal.key.id)
    return page(
        request,
        "review.html",
        visitor,
        image=image,
        choices=choices,
        keys=shortcuts(choices),
        skip=",".join([*skipped, image.id] if image else skipped),
        kept_skip=",".join(skipped),
        last=last,
        waiting=queries.counts(rt.catalog.image_counts(visitor.owner)).uncertain,
        boxes=[label for label in image.labels if label.box] if image else [],
    )


@router.post("/review/undo")
async def undo(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    rt = services(request).runtime
    if rt.reviewer.undo_last(visitor.owner, visitor.principal.key.id) is None:
        raise HTTPException(404, "no decision of yours to undo")
    return RedirectResponse("/ui/review", status_code=303)


@router.post("/review/{image_id}")
async def decide(
    image_id: str, request: Request, visitor: Visitor = Depends(signed_in)
) -> Response:
    form = await request.form()
    class_name = str(form.get("class") or "")
    skip = str(form.get("skip") or "")
    svc = services(request)
    image = api_images.owned(svc, image_id, visitor.principal)
    try:
        svc.runtime.reviewer.decide(image, class_name, visitor.principal.key.id)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    target = str(form.get("next") or "/ui/review")
    if not target.startswith("/ui/"):
        target = "/ui/review"
    if skip and target == "/ui/review":
        target += f"?skip={skip}"
    return RedirectResponse(target, status_code=303)
