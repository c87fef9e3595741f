"""What a recipe needs from the platform on AWS, read off its steps' providers: Rekognition's
endpoint, a route to the internet for model services, their keys; or why it cannot run there."""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.engine.recipes import CompiledRecipe

# Providers that call a service on the internet (OpenAI-compatible, Anthropic, Voyage).
INTERNET_PROVIDERS = frozenset({"llm", "http"})
# Providers whose model files `darkroom models pull` installs under DARKROOM_HOME: a Lambda's
# home is an empty /tmp and the image carries no pulled model.
PULLED_MODEL_PROVIDERS = frozenset({"clip", "onnx"})


@dataclass(frozen=True)
class RecipeNeeds:
    rekognition: bool
    internet: tuple[str, ...]  # "step: provider" of each step that calls the internet
    unavailable: tuple[str, ...]  # "step: provider (why)" of each step Lambda cannot run


def provider_of(settings: object) -> str | None:
    dumped = settings.model_dump() if hasattr(settings, "model_dump") else {}
    value = dumped.get("provider")
    return value if isinstance(value, str) else None


def recipe_needs(recipe: CompiledRecipe) -> RecipeNeeds:
    rekognition = False
    internet: list[str] = []
    unavailable: list[str] = []
    for step in recipe.steps:
        provider = provider_of(step.settings)
        if provider is None:
            continue
        name = step.name
        rekognition |= provider == "rekognition"
        if provider in INTERNET_PROVIDERS:
            internet.append(f"{name}: {provider}")
        if provider in PULLED_MODEL_PROVIDERS:
            unavailable.append(
                f"{name}: {provider} (its model comes from `darkroom models pull`, which the "
                "Lambda image does not carry)"
            )
    return RecipeNeeds(rekognition, tuple(internet), tuple(unavailable))
