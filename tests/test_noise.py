"""What is expected is not shouted about: a Lambda invocation with nothing to count warns
nothing, and every other warning still comes through."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

pytest.importorskip("aws_lambda_powertools")


def test_an_invocation_with_nothing_to_count_warns_nothing() -> None:
    from darkroom.lambdas.runtime import log_metrics, metrics

    def quiet(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"counted": 0}

    def other(event: dict[str, Any], context: Any) -> dict[str, Any]:
        warnings.warn("something else", UserWarning, stacklevel=1)
        return {}

    with warnings.catch_warnings(record=True) as bare:
        warnings.simplefilter("always")
        metrics.log_metrics(quiet)({}, None)
    assert any("No application metrics" in str(w.message) for w in bare)  # what Powertools says

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert log_metrics(quiet)({}, None) == {"counted": 0}
        log_metrics(other)({}, None)
    assert [str(w.message) for w in caught] == ["something else"]
