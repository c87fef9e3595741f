"""Thresholds from people's decisions: for each class, the `high` above which the model's
class would have been right often enough (the target precision), and the `low` below which
filing the picture under the fallback would have been right as often."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from darkroom.domain.review import Review
from darkroom.engine.recipes import CompiledRecipe
from darkroom.steps.classify import ClassifySettings

TABLE_STEP = 5.0  # the table shows thresholds 0, 5, ..., 100


@dataclass(frozen=True)
class Candidate:
    threshold: float
    precision: float | None  # of the images the model would file as this class at `high`
    recall: float  # of the images people put in this class, the share filed so
    uncertain: float  # share of the model's answers for this class left to review


@dataclass
class ClassTuning:
    name: str
    decisions: int  # decisions where the model had said this class
    needs_more: int = 0  # decisions still missing before anything is proposed
    high: float | None = None
    low: float | None = None
    precision: float | None = None  # at the proposed high
    table: list[Candidate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "decisions": self.decisions,
            "needs_more": self.needs_more,
            "high": self.high,
            "low": self.low,
            "precision": self.precision,
            "table": [vars(row) for row in self.table],
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def tune_class(
    name: str,
    fallback: str,
    said: Sequence[tuple[float, str]],  # (model confidence, person's class): model said `name`
    people_total: int,  # decisions where the person said `name`
    target: float,
    minimum: int,
) -> ClassTuning:
    result = ClassTuning(name=name, decisions=len(said))
    if len(said) < minimum:
        result.needs_more = minimum - len(said)
        return result
    points = sorted({round(conf, 2) for conf, _ in said})

    def precision_above(t: float) -> float | None:
        kept = [person for conf, person in said if conf >= t]
        return _ratio(sum(person == name for person in kept), len(kept))

    def fallback_right_below(t: float) -> float | None:
        below = [person for conf, person in said if conf < t]
        return _ratio(sum(person == fallback for person in below), len(below))

    # high: the lowest threshold whose picks are right often enough (None: no threshold is).
    high = next((t for t in points if (precision_above(t) or 0.0) >= target), None)
    if high is None:
        high = 100.0
    # low: the highest threshold up to high below which the fallback is right often enough;
    # with none, nothing goes to the fallback on this class's account.
    low = 0.0
    for t in [*points, high]:
        if t <= high and (fallback_right_below(t) or 0.0) >= target:
            low = max(low, t)
    result.high, result.low = high, low
    result.precision = precision_above(high)
    for step in range(int(100 / TABLE_STEP) + 1):
        t = step * TABLE_STEP
        right = sum(conf >= t and person == name for conf, person in said)
        left = sum(min(low, t) <= conf < t for conf, _ in said)
        result.table.append(
            Candidate(
                threshold=t,
                precision=precision_above(t),
                recall=_ratio(right, people_total) or 0.0,
                uncertain=_ratio(left, len(said)) or 0.0,
            )
        )
    return result


@dataclass
class Tuning:
    recipe: str
    target_precision: float
    decisions: int
    classes: list[ClassTuning]
    override: dict[str, Any] | None  # the recipe with the tuned thresholds, or None

    @property
    def ready(self) -> bool:
        return self.override is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "target_precision": self.target_precision,
            "decisions": self.decisions,
            "ready": self.ready,
            "classes": [c.to_json() for c in self.classes],
            "override": self.override,
        }


def classify_settings(compiled: CompiledRecipe) -> tuple[int, ClassifySettings]:
    for index, step in enumerate(compiled.steps):
        if isinstance(step.settings, ClassifySettings):
            return index, step.settings
    raise ValueError(f"recipe {compiled.name!r} has no classify step: nothing to tune")


def tune(
    compiled: CompiledRecipe,
    reviews: Sequence[Review],
    target: float = 0.95,
    minimum: int = 20,
) -> Tuning:
    """Thresholds per class from the decisions in force. A class with fewer than `minimum`
    decisions where the model said it gets none, and says how many more it needs."""
    index, settings = classify_settings(compiled)
    usable = [r for r in reviews if r.model_class is not None and r.model_confidence is not None]
    classes = []
    for name in [*settings.classes, settings.fallback]:
        said = [(r.model_confidence or 0.0, r.class_name) for r in usable if r.model_class == name]
        people = sum(r.class_name == name for r in usable)
        if name == settings.fallback:
            # The fallback has only `low`: below it even the fallback is uncertain.
            result = tune_class(name, "", said, people, target, minimum)
            result.low = result.high
        else:
            result = tune_class(name, settings.fallback, said, people, target, minimum)
        classes.append(result)
    tuned = {c.name: {"high": c.high, "low": c.low} for c in classes if c.high is not None}
    return Tuning(
        recipe=compiled.name,
        target_precision=target,
        decisions=len(usable),
        classes=classes,
        override=override(compiled, index, tuned) if tuned else None,
    )


def override(compiled: CompiledRecipe, index: int, tuned: dict[str, Any]) -> dict[str, Any]:
    """The recipe as YAML data, its classify step carrying `class_thresholds`; saved in the
    recipes folder (DARKROOM_RECIPES_DIR) under the same name, it replaces the built-in."""
    data: dict[str, Any] = compiled.recipe.model_dump(
        mode="json", by_alias=True, exclude_defaults=True
    )
    steps = data["steps"]
    settings = dict(steps[index].get("with", {}))
    settings["class_thresholds"] = tuned
    steps[index] = {**steps[index], "with": settings}
    data["version"] = compiled.recipe.version + 1
    return data
