"""Providers by name, built on first use and kept for the life of the process."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from darkroom.ports import Detector

DetectorFactory = Callable[[dict[str, Any]], Detector]


def _opencv(options: dict[str, Any]) -> Detector:
    from darkroom.providers.opencv import HaarDetector, HaarOptions

    return HaarDetector(HaarOptions.from_dict(options))


def _imported(name: str) -> DetectorFactory | None:
    """Your own provider as 'package.module:factory', a callable (options) -> Detector."""
    if ":" not in name:
        return None
    module_name, _, attribute = name.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(factory):
        raise LookupError(f"detector provider {name!r}: {attribute!r} is not callable")
    return factory  # type: ignore[no-any-return]


DETECTORS: dict[str, DetectorFactory] = {"opencv": _opencv}


class ProviderRegistry:
    def __init__(self, detectors: dict[str, DetectorFactory] | None = None) -> None:
        self.factories = dict(DETECTORS if detectors is None else detectors)
        self._detectors: dict[str, Detector] = {}

    def register_detector(self, name: str, factory: DetectorFactory) -> None:
        self.factories[name] = factory

    def detector(self, name: str, options: dict[str, Any]) -> Detector:
        key = name + json.dumps(options, sort_keys=True, default=str)
        if key not in self._detectors:
            factory = self.factories.get(name) or _imported(name)
            if factory is None:
                known = ", ".join(sorted(self.factories))
                raise LookupError(f"unknown detector provider {name!r}; available: {known}")
            self._detectors[key] = factory(options)
        return self._detectors[key]
