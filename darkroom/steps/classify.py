"""classify: detected labels to the recipe's classes, by confidence thresholds."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from darkroom.domain.records import Label
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class Thresholds(StepSettings):
    high: float = Field(default=80.0, ge=0, le=100, description="confident at or above")
    low: float = Field(default=50.0, ge=0, le=100, description="uncertain from here to high")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not be above high ({self.high})")
        return self


class ClassifySettings(StepSettings):
    classes: dict[str, list[str]] = Field(
        default={"cat": ["cat"], "dog": ["dog"]},
        description="class -> detector labels that count as it (case-insensitive)",
    )
    fallback: str = Field(default="other", description="class when nothing reaches 'low'")
    thresholds: Thresholds = Thresholds()
    class_thresholds: dict[str, Thresholds] = Field(
        default={},
        description="per-class thresholds (what `darkroom review tune` writes); others use "
        "`thresholds`",
    )
    keep_reviews: bool = Field(
        default=True,
        description="a person's decision stands over a re-run's result (false: the model's wins)",
    )

    @model_validator(mode="after")
    def _fallback_is_not_a_class(self) -> ClassifySettings:
        if self.fallback in self.classes:
            raise ValueError(f"fallback {self.fallback!r} is also one of the classes")
        return self


def decide(labels: list[Label], settings: ClassifySettings) -> tuple[str, float, bool]:
    """(class, confidence in percent, uncertain) for a set of labels.

    The best-scoring label that maps to a class wins. At or above `high` it is that class;
    between `low` and `high` it is still that class but uncertain (a person should look).
    Below `low` the picture is the fallback class, with the probability of none of the classes:
    100 minus the sum of each class's best score (the classes of a classifier's groups exclude
    each other). When even that is under `low` (cat 35, dog 30: neither 35), nothing is sure and
    the fallback is uncertain too.
    """
    wanted = {name.lower(): cls for cls, names in settings.classes.items() for name in names}
    per_class: dict[str, float] = {}
    for label in labels:
        cls = wanted.get(label.name.lower())
        if cls is not None and label.confidence > per_class.get(cls, 0.0):
            per_class[cls] = label.confidence
    best_class, best = max(per_class.items(), key=lambda item: item[1], default=("", 0.0))
    limits = settings.class_thresholds.get(best_class, settings.thresholds)
    if best >= limits.high:
        return best_class, best, False
    if best >= limits.low:
        return best_class, best, True
    neither = max(0.0, 100.0 - sum(per_class.values()))
    fallback = settings.class_thresholds.get(settings.fallback, settings.thresholds)
    return settings.fallback, neither, neither < fallback.low


def run(ctx: StepContext, settings: ClassifySettings) -> StepResult:
    labels = [Label.from_json(item) for item in ctx.output_of("detect").get("labels", [])]
    cls, confidence, uncertain = decide(labels, settings)
    confidence = round(confidence, 2)
    output: dict[str, Any] = {"class": cls, "confidence": confidence, "uncertain": uncertain}
    reviews = ctx.ports.reviews
    review = reviews.latest(ctx.image.id) if reviews is not None and settings.keep_reviews else None
    if review is not None:
        # A person decided: a newer model's answer is kept beside it, not over it.
        output = {
            "class": review.class_name,
            "confidence": 100.0,
            "uncertain": False,
            "reviewed": review.id,
            "model": output,
        }
    return StepResult(
        output=output,
        image={
            "class_name": output["class"],
            "confidence": output["confidence"],
            "uncertain": output["uncertain"],
        },
    )


STEP = StepDefinition(
    name="classify",
    run=run,
    settings=ClassifySettings,
    event="ImageClassified",
    needs=("detect",),
    description="map labels to classes: confident >= high, uncertain between low and high",
)
