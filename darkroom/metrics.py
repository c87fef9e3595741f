"""Prometheus metrics.

Steps run in worker processes and /metrics is served by the API process. `darkroom serve` gives
the workers a PROMETHEUS_MULTIPROC_DIR before it spawns them, and the API adds up their files.
HTTP metrics live in the API process's own registry. Counts of images and jobs are read from the
database at scrape time, so they are right across restarts and every process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Worker-side: recorded wherever steps run.
STEP_SECONDS = Histogram(
    "darkroom_step_seconds",
    "time spent in a step",
    ["recipe", "step"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STEP_FAILURES = Counter(
    "darkroom_step_failures_total", "step attempts that raised", ["recipe", "step"]
)
ORPHANS_REMOVED = Counter(
    "darkroom_orphans_removed_total",
    "what a crash left behind, cleared by the housekeeping sweep",
    ["kind"],  # original | temporary | duplicate (a duplicate of a deleted image, promoted)
)
BATCH_SIZE = Histogram(
    "darkroom_inference_batch_size",
    "pictures per model call, batched across a worker's job threads",
    ["provider"],
    buckets=(1, 2, 4, 8, 16, 32),
)

# API-side: one registry of the serving process.
API_REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "darkroom_http_requests_total",
    "HTTP requests answered",
    ["method", "route", "status"],
    registry=API_REGISTRY,
)
HTTP_SECONDS = Histogram(
    "darkroom_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=API_REGISTRY,
)


def prepare_multiprocess(home: Path) -> Path:
    """A clean folder for the workers' metrics; call before they are spawned."""
    folder = home / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


class _Proxy(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def exposition(
    images: Callable[[], dict[tuple[str, str, bool], int]], queue: Callable[[], dict[str, int]]
) -> bytes:
    """The /metrics page: HTTP metrics, the workers' step metrics, and database gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Proxy(API_REGISTRY.collect))
    folder = os.environ.get(MULTIPROC_ENV)
    if folder and Path(folder).is_dir():
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]

    def gauges() -> Iterator[Metric]:
        by_status = GaugeMetricFamily("darkroom_images", "images by status", labels=["status"])
        by_class = GaugeMetricFamily(
            "darkroom_images_by_class", "completed images by class", labels=["class_name"]
        )
        uncertain = GaugeMetricFamily(
            "darkroom_images_uncertain", "completed images needing a person"
        )
        statuses: dict[str, int] = {}
        classes: dict[str, int] = {}
        unsure = 0
        for (status, class_name, is_uncertain), count in images().items():
            statuses[status] = statuses.get(status, 0) + count
            if status == "completed":
                classes[class_name] = classes.get(class_name, 0) + count
                unsure += count if is_uncertain else 0
        for status, count in sorted(statuses.items()):
            by_status.add_metric([status], count)
        for class_name, count in sorted(classes.items()):
            by_class.add_metric([class_name], count)
        uncertain.add_metric([], unsure)
        depth = GaugeMetricFamily(
            "darkroom_queue_jobs", "jobs in the queue by state", labels=["state"]
        )
        for state, count in sorted(queue().items()):
            depth.add_metric([state], count)
        yield from (by_status, by_class, uncertain, depth)

    registry.register(_Proxy(gauges))
    return generate_latest(registry)
