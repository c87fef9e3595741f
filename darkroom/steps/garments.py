"""garments: what the picture shows, as garments described in a controlled vocabulary.

Providers:
- `llm`: a vision LLM (the `llm` analyzer) is given a JSON schema built from the vocabulary
  (each family's values as an enum); answers are validated for their shape, and words outside
  the vocabulary are mapped through its synonyms or dropped and counted, never stored.
- `clip`: zero-shot over each family's values on a CLIP model; per family, the values whose
  probability reaches the family's threshold.
- `auto` (the default): `llm` when a key or a server of one's own is set, else `clip` when its
  model is installed, else none.
- `none`: `garments: []` with the reason. The image still completes: colours, "looks like"
  and words still find it, with no key and no model.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from darkroom import imaging
from darkroom.domain.garments import answer_schema, facets_of, map_answer, prompt
from darkroom.domain.vocabulary import Vocabulary
from darkroom.ports import Embedder
from darkroom.steps import pixels, vocabularies
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings

NO_MODEL = "no garment model configured"
DEFAULT_CLIP = {"model": "clip-vit-b32"}  # the name `darkroom models pull` installs it under


class GarmentsSettings(StepSettings):
    provider: Literal["auto", "llm", "clip", "none"] = Field(
        default="auto", description="llm, clip, none, or auto: the first of them that is set up"
    )
    vocabulary: str = Field(
        default=vocabularies.BUNDLED,
        description="a vocabulary YAML file, or 'clothing' (the one shipped with darkroom)",
    )
    llm: dict[str, Any] = Field(default_factory=dict, description="the llm analyzer's options")
    clip: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_CLIP), description="the clip embedder's options"
    )
    size: int = Field(default=1024, ge=64, le=4096, description="long side the model sees")
    quality: int = Field(default=88, ge=30, le=100)
    logit_scale: float = Field(default=100.0, gt=0, description="CLIP's temperature")

    @field_validator("vocabulary")
    @classmethod
    def _loads(cls, path: str) -> str:
        vocabularies.load(path)  # every problem in it, now, at recipe load
        return path


def picture_sent(ctx: StepContext, settings: GarmentsSettings) -> bytes:
    """The standardised JPEG when the recipe made one, else the picture encoded here."""
    key = ctx.output_of("standardise").get("key")
    if isinstance(key, str) and ctx.ports.blobs.exists(key):
        return ctx.ports.blobs.get(key)
    return imaging.encode_jpeg(pixels.fitted(ctx, settings.size), settings.quality)


def by_llm(ctx: StepContext, settings: GarmentsSettings, vocabulary: Vocabulary) -> dict[str, Any]:
    analyzer = ctx.ports.providers.analyzer("llm", settings.llm)
    answer = analyzer.analyze(
        picture_sent(ctx, settings),
        "image/jpeg",
        prompt(vocabulary),
        answer_schema(vocabulary),
        accept=answer_schema(vocabulary, enums=False),
    )
    mapped = map_answer(vocabulary, answer.result)
    return {
        "provider": analyzer.name,
        "model": answer.model,
        "attempts": answer.attempts,
        "seconds": round(answer.seconds, 3),
        "garments": mapped.garments,
        "dropped": mapped.dropped,
        "mapped": mapped.mapped,
    }


_texts: dict[tuple[str, str, str], Any] = {}  # (space, vocabulary, family) -> value vectors
_texts_lock = threading.Lock()


def _value_vectors(embedder: Embedder, vocabulary: Vocabulary, family: str) -> Any:
    key = (embedder.space, vocabulary.fingerprint, family)
    with _texts_lock:
        found = _texts.get(key)
    if found is None:
        chosen = vocabulary.families[family]
        found = np.asarray(
            embedder.embed_texts([chosen.prompt.format(value=v) for v in chosen.values]),
            dtype=np.float32,
        )
        with _texts_lock:
            _texts[key] = found
    return found


def by_clip(
    ctx: StepContext, settings: GarmentsSettings, vocabulary: Vocabulary, embedder: Embedder
) -> dict[str, Any]:
    picture = np.asarray(
        embedder.embed_images([imaging.to_array(pixels.fitted(ctx, 256))])[0], dtype=np.float32
    )
    chosen: dict[str, list[dict[str, Any]]] = {}
    for name, family in vocabulary.families.items():
        logits = settings.logit_scale * (_value_vectors(embedder, vocabulary, name) @ picture)
        odds = np.exp(logits - logits.max())
        probabilities = odds / odds.sum()
        ranked = [int(i) for i in np.argsort(-probabilities)]
        kept = [
            i for i in ranked[: 3 if family.multiple else 1] if probabilities[i] >= family.threshold
        ]
        if kept:
            chosen[name] = [
                {"value": family.values[i], "confidence": round(float(probabilities[i]), 4)}
                for i in kept
            ]
    category = chosen.pop("category", None)
    output: dict[str, Any] = {"provider": embedder.name, "model": embedder.model, "garments": []}
    if category is None:
        output["reason"] = "no category reached its threshold"
    else:
        top = category[0]
        output["garments"] = [
            {"category": top["value"], "confidence": top["confidence"], "attributes": chosen}
        ]
    return output


_missing: dict[str, float] = {}  # clip options -> when they last named no usable model
RECHECK_SECONDS = 60.0  # a model pulled while a worker runs is used within a minute


def _clip_if_installed(ctx: StepContext, settings: GarmentsSettings) -> Embedder | None:
    key = json.dumps(settings.clip, sort_keys=True, default=str)
    if time.monotonic() - _missing.get(key, -RECHECK_SECONDS) < RECHECK_SECONDS:
        return None  # looking again for every picture costs more than the rest of the recipe
    try:
        embedder = ctx.ports.providers.embedder("clip", settings.clip)
    except (ValueError, LookupError, ImportError):  # no model pulled, or no onnxruntime
        _missing[key] = time.monotonic()
        return None
    return embedder if embedder.embed_texts(["a"]) is not None else None


def run(ctx: StepContext, settings: GarmentsSettings) -> StepResult:
    vocabulary = vocabularies.load(settings.vocabulary)
    provider = settings.provider
    embedder: Embedder | None = None
    if provider == "auto":
        analyzer = ctx.ports.providers.analyzer("llm", settings.llm)
        if getattr(analyzer, "configured", True):
            provider = "llm"
        else:
            embedder = _clip_if_installed(ctx, settings)
            provider = "clip" if embedder is not None else "none"
    if provider == "llm":
        output = by_llm(ctx, settings, vocabulary)
    elif provider == "clip":
        embedder = embedder or ctx.ports.providers.embedder("clip", settings.clip)
        output = by_clip(ctx, settings, vocabulary, embedder)
    else:
        output = {"provider": "none", "garments": [], "reason": NO_MODEL}
    garments = output["garments"]
    output.update(
        count=len(garments),
        vocabulary=vocabulary.name,
        vocabulary_fingerprint=vocabulary.fingerprint,
        facets=facets_of(garments),
    )
    return StepResult(output=output)


STEP = StepDefinition(
    name="garments",
    run=run,
    settings=GarmentsSettings,
    event="GarmentsDescribed",
    needs=("validate",),
    description="garments and their attributes in a controlled vocabulary (llm, clip or none)",
)
