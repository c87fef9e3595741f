"""analyze: a vision model describes the picture as JSON held to the recipe's schema (default:
category, summary, objects, colours, text seen, tags). Each run stores a new version of the
image's analysis, with the provider, model, latency and the hashes of prompt and schema; the
older versions are kept.

The model sees the thumbnail (800 px by default), never the original: a 24 MP photograph costs
many times the tokens and upload time and says nothing more about what it shows.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import Field, field_validator

from darkroom import imaging
from darkroom.domain.analysis import DEFAULT_PROMPT, DEFAULT_SCHEMA, Analysis, fingerprint
from darkroom.domain.ids import stable_id
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class AnalyzeSettings(StepSettings):
    provider: str = Field(default="llm", description="analyzer provider")
    options: dict[str, Any] = Field(default_factory=dict, description="the provider's options")
    prompt: str = Field(default=DEFAULT_PROMPT, min_length=1, max_length=20_000)
    answer_schema: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_SCHEMA),
        alias="schema",
        description="JSON Schema of the answer (an object)",
    )
    size: int = Field(
        default=800, ge=64, le=4096, description="long side sent; a thumbnail this big is reused"
    )
    quality: int = Field(default=85, ge=30, le=100, description="JPEG quality when encoding here")

    @field_validator("answer_schema")
    @classmethod
    def _a_json_schema_of_an_object(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        if schema.get("type") != "object":
            raise ValueError('the answer must be a JSON object: give the schema "type": "object"')
        return schema


def picture_sent(ctx: StepContext, settings: AnalyzeSettings) -> bytes:
    """The stored thumbnail closest above `size`, else the picture encoded at `size` here."""
    made: dict[str, str] = {}
    for output in ctx.outputs.values():
        thumbnails = output.get("thumbnails")
        if isinstance(thumbnails, dict):
            made.update({str(k): str(v) for k, v in thumbnails.items()})
    big_enough = sorted(
        (int(size), key) for size, key in made.items() if int(size) >= settings.size
    )
    for _, key in big_enough[:1]:
        if ctx.ports.blobs.exists(key):
            return ctx.ports.blobs.get(key)
    return imaging.encode_jpeg(pixels.fitted(ctx, settings.size), settings.quality)


def run(ctx: StepContext, settings: AnalyzeSettings) -> StepResult:
    analyzer = ctx.ports.providers.analyzer(settings.provider, settings.options)
    answer = analyzer.analyze(
        picture_sent(ctx, settings), "image/jpeg", settings.prompt, settings.answer_schema
    )
    analysis = ctx.ports.catalog.add_analysis(
        Analysis(
            # The same id for a repeat of this job's step: a crash after storing it does not
            # make a second version. A new job (reprocess) makes a new one.
            id=stable_id("analysis", ctx.job.id, ctx.step),
            image_id=ctx.image.id,
            owner=ctx.image.owner,
            version=0,  # assigned by the catalog
            provider=analyzer.name,
            model=answer.model,
            seconds=answer.seconds,
            attempts=answer.attempts,
            prompt_hash=fingerprint(settings.prompt),
            schema_hash=fingerprint(settings.answer_schema),
            result=answer.result,
            job_id=ctx.job.id,
        )
    )
    output = analysis.to_json()
    output.pop("image_id")
    return StepResult(output=output)


STEP = StepDefinition(
    name="analyze",
    run=run,
    settings=AnalyzeSettings,
    event="ImageAnalyzed",
    needs=("validate",),
    description="a vision LLM describes the thumbnail as JSON held to a schema (versioned)",
)
