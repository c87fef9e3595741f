"""What every darkroom Lambda shares: the Runtime, built once per container from the environment
(DARKROOM_* settings), and Powertools' structured logger, EMF metrics and tracer."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from darkroom.adapters.aws.secrets import SecretValues
from darkroom.domain.records import Image, ImageStatus
from darkroom.settings import Settings
from darkroom.wiring import Runtime, build

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "darkroom")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "darkroom")

# The logger is named after the service, "darkroom": the engine's own loggers (darkroom.engine,
# darkroom.events, ...) are its children, so their records come out as the same JSON lines.
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)  # off outside Lambda (no X-Ray daemon to talk to)


_secrets = SecretValues()
_built: list[Runtime] = []  # the container's Runtime, once built


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def log_metrics(handler: Handler) -> Handler:
    """Powertools' `log_metrics`, without its warning for an invocation that counted nothing (a
    skipped derivative, a step before the last): normal here, and noise in every such log."""
    published = metrics.log_metrics(handler)

    @functools.wraps(handler)
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with warnings.catch_warnings():  # a Lambda process runs one invocation at a time
            warnings.filterwarnings(
                "ignore", message="No application metrics to publish", category=UserWarning
            )
            return dict(published(event, context))

    return run


def runtime() -> Runtime:
    """Adapters, database pool and models, built on the first invocation of a container and kept
    for every later one. Secrets named by ARN are read first (cached for their max age); when
    one has changed since (the database password rotated), the Runtime is built again."""
    changed = _secrets.refresh()
    if _built and not changed:
        return _built[0]
    if _built:
        logger.info("secrets changed: rebuilding the runtime")
        _built.pop().close()
    made = build(Settings())
    _built.append(made)
    return made


def reset() -> None:
    """Forget the Runtime and the secrets (tests change the environment between cases)."""
    if _built:
        _built.pop().close()
    _secrets.clear()


def count_image(image: Image) -> None:
    """The outcome of one image that reached a final status, as EMF metrics."""
    if image.status is ImageStatus.COMPLETED:
        metrics.add_metric(name="ImagesProcessed", unit=MetricUnit.Count, value=1)
        if image.uncertain:
            metrics.add_metric(name="ImagesUncertain", unit=MetricUnit.Count, value=1)
        if image.class_name:
            _dimensioned("ImagesClassified", MetricUnit.Count, 1, {"class": image.class_name})
    elif image.status is ImageStatus.REJECTED:
        metrics.add_metric(name="ImagesRejected", unit=MetricUnit.Count, value=1)
    elif image.status is ImageStatus.DUPLICATE:
        metrics.add_metric(name="ImagesDuplicate", unit=MetricUnit.Count, value=1)
    elif image.status is ImageStatus.FAILED:
        metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)


def count_step_failure(recipe: str, step: str) -> None:
    """A failed step attempt, with the step as a dimension."""
    _dimensioned("StepFailed", MetricUnit.Count, 1, {"recipe": recipe, "step": step})


def time_steps(recipe: str, seconds_by_step: dict[str, float]) -> None:
    """How long each step that ran took (the dashboard's step latency)."""
    for step, seconds in seconds_by_step.items():
        _dimensioned("StepSeconds", MetricUnit.Seconds, seconds, {"recipe": recipe, "step": step})


def _dimensioned(name: str, unit: MetricUnit, value: float, dimensions: dict[str, str]) -> None:
    """A metric with its own dimensions, in its own EMF blob: the dimensions of the handler's
    shared metric set are per invocation, not per metric."""
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, text in dimensions.items():
            metric.add_dimension(name=key, value=text)
