"""stylise: the face crop, the style and the gender go to the recipe's stylist (a model endpoint
speaking the SageMaker contract, or the offline `blend`); the portrait it answers is stored
with its provenance (provider, model version, latency, attempts) and announced as
`PortraitReady`, with the shopping links of the style.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from darkroom.domain.errors import Rejected
from darkroom.domain.portraits import GENDER, STYLE, USER_ID
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


class ShoppingLink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    url: str


class StyliseSettings(StepSettings):
    provider: str = Field(
        default="auto", description="stylist: auto (the configured endpoint, else blend), ..."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="provider settings")
    face_step: str = Field(default="face", description="the step whose crop is used")
    shopping: dict[str, list[ShoppingLink]] = Field(
        default_factory=dict, description="links shown with a portrait, by style"
    )


def result_prefix(owner: str, image_id: str) -> str:
    return f"portraits/{owner}/{image_id}/portrait"


def run(ctx: StepContext, settings: StyliseSettings) -> StepResult:
    face = ctx.output_of(settings.face_step)
    crop = face.get("crop")
    if not isinstance(crop, str):
        raise Rejected(f"no face crop from the {settings.face_step!r} step")
    style = str(ctx.image.metadata.get(STYLE, ""))
    gender = ctx.image.metadata.get(GENDER)
    stylist = ctx.ports.providers.stylist(settings.provider, settings.options)
    known = stylist.styles()
    if known is not None and style not in known:
        raise Rejected(f"unknown style {style!r}; known styles: {', '.join(known)}")
    made = stylist.stylise(ctx.ports.blobs.get(crop), style, str(gender) if gender else None)
    key = result_prefix(ctx.image.owner, ctx.image.id) + EXTENSIONS.get(made.media_type, ".jpg")
    ctx.ports.blobs.put(key, made.image, content_type=made.media_type)
    links = [link.model_dump() for link in settings.shopping.get(style, [])] + list(made.links)
    return StepResult(
        output={
            "user_id": ctx.image.metadata.get(USER_ID),
            "style": style,
            "gender": gender,
            "result": key,
            "media_type": made.media_type,
            "provider": made.provider,
            "model_version": made.model_version,
            "seconds": round(made.seconds, 4),
            "attempts": made.attempts,
            "faces": face.get("faces"),
            "links": links,
        }
    )


STEP = StepDefinition(
    name="stylise",
    run=run,
    settings=StyliseSettings,
    event="PortraitReady",
    needs=("face",),
    description="a styled portrait of the face from a model endpoint (or the offline blend)",
)
