"""A no-op step, loaded by import path like a user's own, for measuring the engine alone."""

from __future__ import annotations

from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class NoopSettings(StepSettings):
    pass


def _noop(ctx: StepContext, settings: NoopSettings) -> StepResult:
    return StepResult(output={})


NOOP = StepDefinition(name="noop", run=_noop, settings=NoopSettings, event="NoopDone")

NOOP_RECIPE = """
name: noop
description: five steps that do nothing, to measure the engine
steps:
""" + "".join(f"  - {{step: 'bench.steps:NOOP', name: noop{n}}}\n" for n in range(5))
