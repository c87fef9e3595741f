"""An analysis: what a vision model said about a picture, as JSON held to a schema. Each one is a
new version of the image's analysis; the old ones are kept."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from darkroom.domain.records import utcnow


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


# Every property required and no others: the shape OpenAI's strict structured outputs accept,
# and one that leaves the validator nothing to guess.
DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "category": {
            "type": "string",
            "description": "what kind of picture, in one or two words (pet, landscape, receipt)",
        },
        "summary": {"type": "string", "description": "one or two sentences describing it"},
        "objects": _strings("the things that can be seen"),
        "colours": _strings("the dominant colours, as plain colour names"),
        "text_seen": _strings("text legible in the picture, verbatim; empty when there is none"),
        "tags": _strings("keywords someone might search for to find this picture"),
    },
    "required": ["category", "summary", "objects", "colours", "text_seen", "tags"],
    "additionalProperties": False,
}

DEFAULT_PROMPT = (
    "You describe pictures for the search index of a personal collection. Look at the picture "
    "and answer with JSON only, fitting the schema you are given: no prose around it. Say only "
    "what can be seen; leave a list empty rather than guess."
)


def fingerprint(value: Any) -> str:
    """SHA-256 of a value's canonical JSON: the same prompt or schema always hashes the same."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Analysis:
    """One version of an image's analysis, with what made it."""

    id: str
    image_id: str
    owner: str
    version: int  # 1 for the first analysis of the image, then 2, 3, ...
    provider: str  # e.g. "llm:openai"
    model: str
    seconds: float  # latency of the provider, retries included
    attempts: int  # answers asked for until one fitted the schema
    prompt_hash: str
    schema_hash: str
    result: dict[str, Any]
    job_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, Any]:
        return {
            "analysis_id": self.id,
            "image_id": self.image_id,
            "version": self.version,
            "provider": self.provider,
            "model": self.model,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "prompt_hash": self.prompt_hash,
            "schema_hash": self.schema_hash,
            "result": self.result,
            "created_at": self.created_at.isoformat(),
        }


def words(value: Any) -> Iterator[str]:
    """Every string (and number) inside a JSON value, keys left out: what full text indexes."""
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from words(item)
    elif isinstance(value, list):
        for item in value:
            yield from words(item)


def describe(result: dict[str, Any]) -> str:
    """The analysis as one passage for a text embedder: 'summary: ...; tags: a, b; ...', the
    summary first since it says the most."""
    ordered = sorted(result.items(), key=lambda item: item[0] != "summary")
    parts = []
    for key, value in ordered:
        found = list(words(value))
        if found:
            parts.append(f"{key.replace('_', ' ')}: {', '.join(found)}")
    return "; ".join(parts)
