"""Steps: one module each, a function (context, settings) -> result, seeing ports only."""

from __future__ import annotations

import importlib
from typing import Any

from darkroom.steps import (
    analyze,
    classify,
    colours,
    consent,
    content_hash,
    detect,
    embed,
    embed_media,
    face,
    garments,
    index,
    inventory,
    keyframes,
    normalize,
    notify,
    ocr,
    organize,
    place,
    product,
    record,
    standardise,
    stylise,
    thumbnail,
    validate,
)
from darkroom.steps.base import StepDefinition

BUILTIN: dict[str, StepDefinition[Any]] = {
    module.STEP.name: module.STEP
    for module in (
        validate,
        normalize,
        thumbnail,
        content_hash,
        detect,
        classify,
        organize,
        record,
        notify,
        embed,
        index,
        analyze,
        standardise,
        garments,
        colours,
        inventory,
        consent,
        face,
        stylise,
        ocr,
        product,
        keyframes,
        embed_media,
        place,
    )
}


def resolve(name: str) -> StepDefinition[Any]:
    """A built-in step by name, or your own as 'package.module:ATTRIBUTE' (a StepDefinition)."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" not in name:
        known = ", ".join(sorted(BUILTIN))
        raise LookupError(f"unknown step {name!r}; built-in steps are: {known}")
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"step {name!r}: cannot import {module_name!r}: {exc}") from None
    definition = getattr(module, attribute, None)
    if not isinstance(definition, StepDefinition):
        raise LookupError(f"step {name!r}: {attribute!r} in {module_name} is not a StepDefinition")
    return definition
