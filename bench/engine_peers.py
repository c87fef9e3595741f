"""The engine against two task queues people reach for, same run, same work: five no-op tasks
chained per job, two worker processes. Huey on its SQLite storage (the embedded peer) and Celery
on a Redis broker (Debian's redis-server, started here on a free loopback port). darkroom's own
figure is bench/engine.py's. A peer that is not installed is left out with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Row
from bench.engine import darkroom_jobs_per_second
from tests.server import free_port

WORKERS = 2
STEPS = 5

HUEY_APP = """
from huey import SqliteHuey

huey = SqliteHuey(filename={path!r}, timeout=60)


@huey.task()
def step(n):
    return n + 1


def chain():
    pipeline = step.s(0)
    for _ in range({steps} - 1):
        pipeline = pipeline.then(step)
    return pipeline
"""

CELERY_APP = """
from celery import Celery, chain as celery_chain

app = Celery("peer", broker={broker!r}, backend={broker!r})
app.conf.update(worker_prefetch_multiplier=4, task_acks_late=False, result_expires=600)


@app.task
def step(n):
    return n + 1


def chain():
    return celery_chain(step.s(0), *[step.s() for _ in range({steps} - 1)])
"""


def _write_app(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def huey_jobs_per_second(folder: Path, jobs: int) -> float:
    path = str(folder / "huey.db")
    _write_app(folder, "huey_peer", HUEY_APP.format(path=path, steps=STEPS))
    sys.path.insert(0, str(folder))
    try:
        import huey_peer  # type: ignore[import-not-found]

        results = [huey_peer.huey.enqueue(huey_peer.chain()) for _ in range(jobs)]
        consumer = subprocess.Popen(
            [sys.executable, "-m", "huey.bin.huey_consumer", "huey_peer.huey",
             "-w", str(WORKERS), "-k", "process", "-d", "0.01", "-m", "0.1", "-q"],
            cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)},
        )  # fmt: skip
        try:
            # Every task stores its result: a job is done when its five are stored (one count).
            storage = huey_peer.huey.storage
            return _until_done(lambda: storage.result_store_size() // STEPS, len(results))
        finally:
            consumer.terminate()
            consumer.wait(30)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("huey_peer", None)


def celery_jobs_per_second(folder: Path, jobs: int) -> float:
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("no redis-server (apt-get install redis-server)")
    port = free_port()
    redis = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    broker = f"redis://127.0.0.1:{port}/0"
    _write_app(folder, "celery_peer", CELERY_APP.format(broker=broker, steps=STEPS))
    sys.path.insert(0, str(folder))
    worker = None
    try:
        time.sleep(0.5)
        import celery_peer  # type: ignore[import-not-found]

        results = [celery_peer.chain().apply_async() for _ in range(jobs)]
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_peer", "worker", "-c", str(WORKERS),
             "-P", "prefork", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return _until_done(Progress(results, lambda r: r.ready()), len(results))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        redis.terminate()
        redis.wait(30)
        sys.path.remove(str(folder))
        sys.modules.pop("celery_peer", None)


class Progress:
    """How many results are in, asking about the oldest few pending only: queues finish in about
    the order they were fed, and asking about thousands each poll would load the broker."""

    def __init__(self, results: list[Any], done: Callable[[Any], bool], window: int = 64) -> None:
        self.pending, self.is_done, self.window, self.done = list(results), done, window, 0

    def __call__(self) -> int:
        head = self.pending[: self.window]
        still = [result for result in head if not self.is_done(result)]
        self.done += len(head) - len(still)
        self.pending = still + self.pending[self.window :]
        return self.done


def _until_done(count: Callable[[], int], jobs: int) -> float:
    """Jobs per second once a tenth are done (the workers' start-up left out, as in engine.py)."""
    warm = jobs // 10
    deadline = time.monotonic() + 600
    while (done := count()) < warm:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {jobs} jobs done in 600 s")
        time.sleep(0.05)
    started, first = time.perf_counter(), done
    while count() < jobs:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count()} of {jobs} jobs done in 600 s")
        time.sleep(0.05)
    return (jobs - first) / (time.perf_counter() - started)


def run(quick: bool) -> list[Row]:
    jobs = 200 if quick else 2000
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        ours = darkroom_jobs_per_second(Path(tmp) / "darkroom", jobs)
        for name, measure, peer in [
            ("Huey 3, SQLite storage", huey_jobs_per_second, "huey"),
            ("Celery 5, Redis broker and results", celery_jobs_per_second, "celery"),
        ]:
            folder = Path(tmp) / peer
            folder.mkdir()
            try:
                theirs = measure(folder, jobs)
            except (ImportError, RuntimeError) as exc:
                rows.append(Row("engine peers", f"{STEPS}-task chain vs {name}", "jobs/s", ours,
                                notes=f"peer not measured: {exc}"))  # fmt: skip
                continue
            rows.append(
                Row(
                    "engine peers",
                    f"{STEPS} no-op steps as a chain, {WORKERS} workers, {jobs} jobs",
                    "jobs/s",
                    ours,
                    baseline=theirs,
                    baseline_name=name,
                    target="measured",
                    notes="darkroom also stores every step's result, the image record and "
                    "its events in the same transactions",
                )
            )
    return rows
