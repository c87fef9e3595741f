"""A recipe: a pipeline written as data. Parsed and checked here; the engine resolves steps."""

from __future__ import annotations

import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from darkroom.domain.errors import RecipeError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class RetryPolicy(BaseModel):
    """Exponential backoff with full jitter: attempt n waits up to min(max, base * 2**(n-1))."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=4, ge=1, le=100)
    backoff_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=300.0, ge=0)
    jitter: bool = True

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after `failures` failures (from 1): full jitter over an exponential
        ceiling, so a crowd of retries spreads out instead of striking together."""
        ceiling = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(0, failures - 1))
        return (rng or random).uniform(0, ceiling) if self.jitter else ceiling


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    step: str = Field(description="a built-in step name, or 'package.module:function' for your own")
    name: str | None = Field(
        default=None, description="unique name in the recipe; defaults to step"
    )
    settings: dict[str, Any] = Field(default_factory=dict, alias="with")
    retry: RetryPolicy | None = None
    shadow: bool = Field(
        default=False,
        description="run beside the live step to evaluate a new model: stored, never served",
    )

    @property
    def key(self) -> str:
        return self.name or self.step


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    version: int = Field(default=1, ge=1)
    retry: RetryPolicy = RetryPolicy()
    visibility_timeout_seconds: float = Field(
        default=120.0, gt=0, description="how long a claimed job stays hidden from other workers"
    )
    requires_metadata: list[str] = Field(
        default_factory=list,
        description="metadata an upload must name (the media recipe: sku); 422 without it",
    )
    max_deliveries: int = Field(
        default=10,
        ge=1,
        description="a job whose worker died this many times (crash, kill) goes to the DLQ",
    )
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name_is_a_slug(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "must be lowercase letters, digits, '-' or '_', starting with a letter"
            )
        return value

    @model_validator(mode="after")
    def _step_names_are_unique(self) -> Recipe:
        seen: set[str] = set()
        for spec in self.steps:
            if spec.key in seen:
                raise ValueError(f"step name {spec.key!r} appears twice; give one a 'name'")
            seen.add(spec.key)
        return self

    def retry_for(self, spec: StepSpec) -> RetryPolicy:
        return spec.retry or self.retry


def parse_recipe(data: object, *, origin: str) -> Recipe:
    """Validate raw recipe data, turning pydantic's errors into one readable RecipeError."""
    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: a recipe must be a mapping, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(origin, exc)) from None


def format_validation_error(origin: str, exc: ValidationError) -> str:
    lines = [f"{origin}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"  - {where}: {err['msg']}")
    return "\n".join(lines)
