"""Recipes from YAML: the built-ins shipped in the package and any in the recipes folder."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from darkroom import steps
from darkroom.domain.errors import RecipeError
from darkroom.domain.recipe import (
    Recipe,
    RetryPolicy,
    StepSpec,
    format_validation_error,
    parse_recipe,
)
from darkroom.steps.base import StepDefinition, StepSettings


@dataclass(frozen=True)
class CompiledStep:
    spec: StepSpec
    definition: StepDefinition[Any]
    settings: StepSettings
    retry: RetryPolicy

    @property
    def name(self) -> str:
        return self.spec.key


@dataclass(frozen=True)
class CompiledRecipe:
    recipe: Recipe
    steps: tuple[CompiledStep, ...]
    source: str

    @property
    def name(self) -> str:
        return self.recipe.name


def compile_recipe(recipe: Recipe, *, origin: str) -> CompiledRecipe:
    """Resolve each step and validate its settings; report every problem at once."""
    problems: list[str] = []
    compiled: list[CompiledStep] = []
    seen_steps: set[str] = set()
    for index, spec in enumerate(recipe.steps, start=1):
        where = f"steps[{index}] ({spec.key})"
        try:
            definition = steps.resolve(spec.step)
        except LookupError as exc:
            problems.append(f"  - {where}: {exc}")
            continue
        missing = [need for need in definition.needs if need not in seen_steps]
        if missing:
            problems.append(f"  - {where}: needs {', '.join(missing)} earlier in the recipe")
        if spec.shadow and not definition.shadowable:
            problems.append(f"  - {where}: cannot run in shadow: what it does is served")
        if not spec.shadow:  # nothing may depend on a shadow step's results
            seen_steps.add(definition.name)
        try:
            settings = definition.settings.model_validate(spec.settings)
        except ValidationError as exc:
            detail = format_validation_error(f"{where} settings", exc)
            problems.extend("  - " + line.strip() for line in detail.splitlines())
            continue
        compiled.append(CompiledStep(spec, definition, settings, recipe.retry_for(spec)))
    if problems:
        raise RecipeError(f"{origin}: recipe {recipe.name!r} cannot run:\n" + "\n".join(problems))
    return CompiledRecipe(recipe, tuple(compiled), origin)


def load_text(text: str, *, origin: str) -> CompiledRecipe:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{origin}: not valid YAML: {exc}") from None
    return compile_recipe(parse_recipe(data, origin=origin), origin=origin)


def load_file(path: Path) -> CompiledRecipe:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read: {exc}") from None
    return load_text(text, origin=str(path))


class RecipeBook:
    """Every recipe by name: built-ins first, then the user's folder (which may override)."""

    def __init__(self, extra_dir: Path | None = None) -> None:
        self._recipes: dict[str, CompiledRecipe] = {}
        package = resources.files("darkroom.recipes")
        for entry in sorted(package.iterdir(), key=lambda item: item.name):
            if entry.name.endswith(".yaml"):
                self._add(load_text(entry.read_text("utf-8"), origin=f"built-in {entry.name}"))
        if extra_dir is not None and extra_dir.is_dir():
            for path in sorted(extra_dir.glob("*.yaml")) + sorted(extra_dir.glob("*.yml")):
                self._add(load_file(path))

    def _add(self, compiled: CompiledRecipe) -> None:
        self._recipes[compiled.name] = compiled

    def add_file(self, path: Path) -> CompiledRecipe:
        compiled = load_file(path)
        self._add(compiled)
        return compiled

    def get(self, name: str) -> CompiledRecipe:
        try:
            return self._recipes[name]
        except KeyError:
            known = ", ".join(sorted(self._recipes))
            raise RecipeError(f"unknown recipe {name!r}; known recipes: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._recipes)

    def all(self) -> list[CompiledRecipe]:
        return [self._recipes[name] for name in self.names()]
