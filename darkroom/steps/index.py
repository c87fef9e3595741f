"""index: the words a picture is found by (file name, class, labels, captions, tags, the text
read in it, and what its latest analysis says) into the full-text index."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from darkroom.domain.analysis import words
from darkroom.domain.vocabulary import FAMILY_NAME as FAMILY
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings
from darkroom.steps.embed import index_metadata

_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


class IndexSettings(StepSettings):
    facets: list[str] = Field(
        default_factory=list,
        description="upload metadata keys that are search facets too (brand, size...); "
        "steps add their own (a `facets` mapping in their output: colour, category...)",
    )

    @field_validator("facets")
    @classmethod
    def _facet_names(cls, names: list[str]) -> list[str]:
        wrong = [name for name in names if not FAMILY.match(name)]
        if wrong:
            raise ValueError(f"{wrong}: a facet is lowercase letters, digits and '_', at most 40")
        return names


def facets_of(ctx: StepContext, settings: IndexSettings) -> dict[str, list[str]]:
    """Every earlier step's `facets` (family -> values) and the metadata keys named."""
    found: dict[str, list[str]] = {}
    for output in ctx.outputs.values():
        declared = output.get("facets")
        if isinstance(declared, dict):
            for family, values in declared.items():
                if isinstance(values, list):
                    found.setdefault(str(family), []).extend(str(v) for v in values)
    for key in settings.facets:
        value = ctx.image.metadata.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            found.setdefault(key, []).append(str(value).strip().lower())
    return found


def words_of(ctx: StepContext) -> str:
    stem = ctx.image.filename.rsplit(".", 1)[0]
    parts = [_SEPARATORS.sub(" ", stem)]
    if ctx.image.class_name:
        parts.append(ctx.image.class_name)
    parts.extend(label.name for label in ctx.image.labels)
    for output in ctx.outputs.values():  # captions, tags, summaries of analysing steps
        declared = output.get("facets")
        if isinstance(declared, dict):  # what it is found by as facets, it is found by in words
            parts.extend(
                str(v) for values in declared.values() if isinstance(values, list) for v in values
            )
        for key in ("caption", "summary", "tags", "category", "text"):  # text: ocr
            value = output.get(key)
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, list):
                parts.extend(str(item) for item in value)
    latest = ctx.ports.catalog.latest_analysis(ctx.image.id)
    if latest is not None:  # summary, category, objects, colours, text seen, tags...
        parts.extend(words(latest.result))
    for key, value in ctx.image.metadata.items():
        if isinstance(value, str):
            parts.append(f"{key} {value}")
    return " ".join(part for part in parts if part).lower()


def run(ctx: StepContext, settings: IndexSettings) -> StepResult:
    body = words_of(ctx)
    ctx.ports.text.upsert(ctx.image.owner, ctx.image.id, body, index_metadata(ctx))
    output: dict[str, object] = {"words": len(body.split())}
    if ctx.ports.facets is not None:
        facets = facets_of(ctx, settings)
        ctx.ports.facets.put(ctx.image.owner, ctx.image.id, facets)
        output["facet_values"] = sum(len(set(values)) for values in facets.values())
    return StepResult(output=output)


STEP = StepDefinition(
    name="index",
    run=run,
    settings=IndexSettings,
    event="ImageIndexed",
    needs=("validate",),
    reads=("detect", "classify", "analyze", "garments", "colours", "ocr"),
    description="put the file name, class, labels, captions and tags into full-text search",
)
