"""The review loop over HTTP: GET /review (uncertain images, oldest first), POST
/images/{id}/review (a person's class) and POST /review/undo (take back the last one)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from darkroom.api.errors import COMMON, invalid
from darkroom.api.routes.images import image_out, owned
from darkroom.api.routes.uploads import services
from darkroom.api.schemas import ImageOut
from darkroom.api.security import Principal, authenticate
from darkroom.engine.lifecycle import Conflict
from darkroom.engine.review import classes_of, review_queue

router = APIRouter(tags=["review"], responses=COMMON)


class ReviewItem(ImageOut):
    choices: list[str]  # the classes a person may pick for it


class ReviewQueue(BaseModel):
    items: list[ReviewItem]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str = Field(alias="class", min_length=1, max_length=64)


class ModelSaid(BaseModel):
    class_: str | None = Field(alias="class")
    confidence: float | None
    uncertain: bool


class ReviewOut(BaseModel):
    review_id: str
    image_id: str
    recipe: str
    class_: str = Field(alias="class")
    decided_by: str
    decided_at: str
    model: ModelSaid
    undone_at: str | None


@router.get("/review", response_model=ReviewQueue, response_model_by_alias=True)
def queue(
    request: Request,
    recipe: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    principal: Principal = Depends(authenticate),
) -> dict[str, Any]:
    """The caller's uncertain images, oldest first: what a person should look at."""
    svc = services(request)
    recipes = svc.runtime.recipes
    items = [
        {**image_out(request, svc, image), "choices": classes_of(recipes, image.recipe)}
        for image in review_queue(svc.runtime.catalog, principal.owner, recipe, limit)
    ]
    return {"items": items}


@router.post(
    "/images/{image_id}/review",
    response_model=ReviewOut,
    response_model_by_alias=True,
    responses={404: {"description": "no such image"}, 409: {"description": "not completed"}},
)
def decide(
    image_id: str, body: Decision, request: Request, principal: Principal = Depends(authenticate)
) -> dict[str, Any]:
    """A person's class for an image: stored with who and when and what the model said, the
    image re-filed, `ReviewCompleted` published. A reprocess keeps it."""
    svc = services(request)
    image = owned(svc, image_id, principal)
    try:
        review = svc.runtime.reviewer.decide(image, body.class_, principal.key.id)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise invalid(("body", "class"), str(exc)) from None
    return review.to_json()


@router.post(
    "/review/undo",
    response_model=ReviewOut,
    response_model_by_alias=True,
    responses={404: {"description": "this key has no decision to undo"}},
)
def undo(request: Request, principal: Principal = Depends(authenticate)) -> dict[str, Any]:
    """Take back this key's newest decision: the image returns to where it was."""
    review = services(request).runtime.reviewer.undo_last(principal.owner, principal.key.id)
    if review is None:
        raise HTTPException(404, "this key has no decision to undo")
    return review.to_json()
