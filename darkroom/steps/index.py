"""index: the words a picture is found by (file name, class, labels, captions, tags, the text
read in it, and what its latest analysis says) into the full-text index."""

from __future__ import annotations

import re

from darkroom.domain.analysis import words
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings
from darkroom.steps.embed import index_metadata

_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


class IndexSettings(StepSettings):
    pass


def words_of(ctx: StepContext) -> str:
    stem = ctx.image.filename.rsplit(".", 1)[0]
    parts = [_SEPARATORS.sub(" ", stem)]
    if ctx.image.class_name:
        parts.append(ctx.image.class_name)
    parts.extend(label.name for label in ctx.image.labels)
    for output in ctx.outputs.values():  # captions, tags, summaries of analysing steps
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
    return StepResult(output={"words": len(body.split())})


STEP = StepDefinition(
    name="index",
    run=run,
    settings=IndexSettings,
    event="ImageIndexed",
    needs=("validate",),
    reads=("detect", "classify", "analyze", "ocr"),
    description="put the file name, class, labels, captions and tags into full-text search",
)
