"""inventory: announce a catalogued picture to downstream systems (InventoryImageProcessed).

The detail names the standardised picture (`file_path`, with its width and height), the
garments (their count, and the list as `items`), the colours and the shop's `sku`. Put last in
a recipe, it is announced once the rest has finished; its id derives from the job and step, and
a finished step is never run again for its job, so a redelivered job announces nothing twice.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings

INVENTORY_PROCESSED = "InventoryImageProcessed"
_SOURCE = re.compile(r"^[a-z][a-z0-9._-]{0,60}$")


class InventorySettings(StepSettings):
    source: str = Field(default="catalog", description="the event's source is darkroom.<this>")

    @field_validator("source")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if not _SOURCE.match(value):
            raise ValueError("lowercase letters, digits, '.', '_' or '-', starting with a letter")
        return value


def detail(ctx: StepContext) -> dict[str, Any]:
    standard = ctx.output_of("standardise")
    garments = ctx.output_of("garments").get("garments", [])
    sku = ctx.image.metadata.get("sku")
    return {
        "file_path": standard.get("file_path") or ctx.ports.blobs.url(ctx.image.location),
        "width": standard.get("width", ctx.image.width),
        "height": standard.get("height", ctx.image.height),
        "garments": len(garments),
        "items": garments,
        "colours": ctx.output_of("colours").get("colours", []),
        "sku": str(sku) if sku is not None else None,
        "filename": ctx.image.filename,
    }


def run(ctx: StepContext, settings: InventorySettings) -> StepResult:
    # The output is the event's detail (the runner adds image_id, owner, recipe and job_id).
    return StepResult(output=detail(ctx), source=settings.source)


STEP = StepDefinition(
    name="inventory",
    run=run,
    settings=InventorySettings,
    event=INVENTORY_PROCESSED,
    needs=("validate",),
    reads=("standardise", "garments", "colours"),
    description="announce InventoryImageProcessed: file_path, garments, colours, sku",
)
