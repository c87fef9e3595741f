"""colours: the garment's dominant colours, named, with their share of its pixels; no model.

Background removed by a border flood, k-means in CIELAB, each cluster named from a palette of
basic colour terms (darkroom/colours.py says how).
"""

from __future__ import annotations

from pydantic import Field

from darkroom import imaging
from darkroom.colours import dominant_colours
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class ColoursSettings(StepSettings):
    k: int = Field(default=5, ge=1, le=5, description="clusters (k-means)")
    size: int = Field(default=160, ge=32, le=1024, description="long side the colours are read at")
    tolerance: float = Field(
        default=14.0, gt=0, le=100, description="ΔE from a border colour that is background"
    )
    min_share: float = Field(default=0.02, ge=0, le=1, description="smaller colours are left out")
    facet_share: float = Field(
        default=0.1, ge=0, le=1, description="colours this big or bigger are search facets"
    )


def run(ctx: StepContext, settings: ColoursSettings) -> StepResult:
    picture = imaging.to_array(pixels.fitted(ctx, settings.size))
    found, background = dominant_colours(
        picture, k=settings.k, tolerance=settings.tolerance, min_share=settings.min_share
    )
    colours = [{"name": c.name, "share": c.share, "hex": c.hex} for c in found]
    facet = [c.name for c in found if c.share >= settings.facet_share] or [
        c.name for c in found[:1]
    ]
    return StepResult(
        output={"colours": colours, "background": background, "facets": {"colour": facet}}
    )


STEP = StepDefinition(
    name="colours",
    run=run,
    settings=ColoursSettings,
    event="ColoursFound",
    needs=("validate",),
    description="dominant colours (k-means in CIELAB, background removed), named, with shares",
)
