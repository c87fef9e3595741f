"""What a recipe needs before any picture is accepted for it: a key for each model service its
steps call. Checked by `darkroom ingest` and `darkroom serve` at start, so a missing key is one
clear message naming every way to set it, not every image failing into the dead-letter queue."""

from __future__ import annotations

from typing import Any

from darkroom.engine.recipes import CompiledRecipe
from darkroom.ports import Providers

# Steps whose provider may call a model service, and the registry method that builds it.
KEYED_STEPS = {"analyze": "analyzer", "embed": "embedder"}
KEYED_PROVIDERS = {"llm", "http"}  # building these is cheap: no model is loaded


def unmet_needs(recipe: CompiledRecipe, providers: Providers) -> list[str]:
    """One line per step that cannot run here, each saying how to make it run."""
    problems: list[str] = []
    for step in recipe.steps:
        kind = KEYED_STEPS.get(step.spec.step)
        name = getattr(step.settings, "provider", None)
        if kind is None or name not in KEYED_PROVIDERS or step.spec.shadow:
            continue  # a shadow step's failure never fails a job
        options: dict[str, Any] = getattr(step.settings, "options", {})
        try:
            provider = getattr(providers, kind)(name, options)
        except (LookupError, ValueError) as exc:
            problems.append(f"step {step.name}: {exc}")
            continue
        missing = getattr(provider, "missing_key", None)
        reason = missing() if callable(missing) else None
        if reason:
            problems.append(f"step {step.name}: {reason}")
    return problems


def explain(recipe: str, problems: list[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f"recipe {recipe!r} cannot run here, so no picture was accepted for it:\n{lines}\n"
        "(an image accepted anyway would fail at that step, into the dead-letter queue)"
    )
