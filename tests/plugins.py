"""A test detector and test steps, loaded by name the way a user's own would be
('tests.plugins:...'), so they also run inside spawned worker processes."""

from __future__ import annotations

from typing import Any

import numpy as np

from darkroom.domain.records import Label
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class ColourDetector:
    """Sees the dominant colour: red is a sure cat, green an unsure cat, blue a sure dog.
    A real detector on real pixels, with answers the tests can plan for."""

    name = "test-colour"

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def detect(self, pixels: Any) -> list[Label]:
        means = np.asarray(pixels, dtype=np.float64).reshape(-1, 3).mean(axis=0)
        channel = int(np.argmax(means))
        if means[channel] - np.sort(means)[-2] < 40:
            return []
        return [
            [Label("cat", 95.0, provider=self.name)],
            [Label("cat", 65.0, provider=self.name)],
            [Label("dog", 90.0, provider=self.name)],
        ][channel]


def colour_detector(options: dict[str, Any]) -> ColourDetector:
    return ColourDetector(options)


class SlowBatchColourDetector(ColourDetector):
    """The colour detector as a model that takes several pictures per call, each call costing
    `seconds` whatever its size (as an inference call's fixed cost does): it keeps the size of
    every call it got."""

    name = "test-slow-batch"
    max_batch = 8
    calls: list[int] = []  # noqa: RUF012 - shared with the test that reads it

    def detect_batch(self, pictures: list[Any]) -> list[list[Label]]:
        import time

        type(self).calls.append(len(pictures))
        time.sleep(float(self.options.get("seconds", 0.05)))
        return [ColourDetector.detect(self, picture) for picture in pictures]

    def detect(self, pixels: Any) -> list[Label]:
        return self.detect_batch([pixels])[0]


def slow_batch_detector(options: dict[str, Any]) -> SlowBatchColourDetector:
    return SlowBatchColourDetector(options)


class PoisonSettings(StepSettings):
    marker: str = "poison"


def _poison(ctx: StepContext, settings: PoisonSettings) -> StepResult:
    if settings.marker in ctx.image.filename:
        raise RuntimeError(f"poisoned by {ctx.image.filename}")
    return StepResult(output={"ok": True})


POISON = StepDefinition(name="poison", run=_poison, settings=PoisonSettings, event="PoisonChecked")


class NoopSettings(StepSettings):
    pass


def _noop(ctx: StepContext, settings: NoopSettings) -> StepResult:
    return StepResult(output={})


NOOP = StepDefinition(name="noop", run=_noop, settings=NoopSettings, event="NoopDone")


def _die(ctx: StepContext, settings: NoopSettings) -> StepResult:
    raise KeyboardInterrupt("the worker is killed here")  # not an Exception: nothing is saved


DIE = StepDefinition(name="die", run=_die, settings=NoopSettings, event="Never")


def _delete_own_image(ctx: StepContext, settings: NoopSettings) -> StepResult:
    """What a DELETE /images/{id} racing the worker does, right in the middle of the job."""
    from darkroom.adapters.local.bus import LocalEventBus
    from darkroom.engine import lifecycle
    from darkroom.engine.outbox import Outbox

    ports = ctx.ports
    outbox = Outbox(ports.catalog, LocalEventBus())
    stored = ports.catalog.get_image(ctx.image.id)
    assert stored is not None
    indexes = (ports.vectors, ports.text)
    lifecycle.delete_image(ports.catalog, ports.blobs, outbox, stored, indexes, ports.detections)
    return StepResult(output={})


DELETE_OWN_IMAGE = StepDefinition(
    name="delete-own-image", run=_delete_own_image, settings=NoopSettings, event="Deleted"
)


class AlwaysDog:
    """A 'new model' for shadow tests: it disagrees with the colour detector on purpose."""

    name = "test-always-dog"

    def detect(self, pixels: Any) -> list[Label]:
        return [Label("dog", 99.0, provider=self.name)]


def always_dog(options: dict[str, Any]) -> AlwaysDog:
    return AlwaysDog()


class BrokenDetector:
    name = "test-broken"

    def detect(self, pixels: Any) -> list[Label]:
        raise RuntimeError("this model is broken")


def broken_detector(options: dict[str, Any]) -> BrokenDetector:
    return BrokenDetector()
