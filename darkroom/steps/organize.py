"""organize: file the original under its class folder. Safe to repeat: a retry finds the move."""

from __future__ import annotations

from pydantic import Field

from darkroom.imaging import EXTENSIONS
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class OrganizeSettings(StepSettings):
    folders: dict[str, str] = Field(
        default={"cat": "cats", "dog": "dogs", "other": "others"},
        description="class -> folder; a class not named here goes to `default`",
    )
    default: str = "others"


def destination(ctx: StepContext, settings: OrganizeSettings) -> str:
    cls = ctx.output_of("classify").get("class") or ctx.image.class_name or ""
    folder = settings.folders.get(cls, settings.default)
    extension = EXTENSIONS.get(ctx.image.format or "", ".bin")
    return f"{folder}/{ctx.image.owner}/{ctx.image.id}{extension}"


def run(ctx: StepContext, settings: OrganizeSettings) -> StepResult:
    return move_original(ctx, destination(ctx, settings))


def move_original(ctx: StepContext, target: str) -> StepResult:
    """Move the original to `target`, safe to repeat (the media library's `place` files by
    product the same way)."""
    blobs = ctx.ports.blobs
    source = ctx.image.location
    if source != target:
        if blobs.exists(target):
            # An earlier attempt moved it and stopped before recording: finish that move.
            if blobs.exists(source):
                blobs.delete(source)
        else:
            blobs.move(source, target)
    return StepResult(output={"from": source, "location": target}, image={"location": target})


STEP = StepDefinition(
    name="organize",
    run=run,
    settings=OrganizeSettings,
    event="ImageOrganized",
    needs=("classify",),
    description="move the original to its class folder (cats/, dogs/, others/) per owner",
    checkpoint=True,
)
