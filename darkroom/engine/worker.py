"""Workers: a loop that claims and runs jobs until told to stop, and a pool of such processes."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Protocol

from darkroom.adapters.sql.queue import worker_name
from darkroom.engine.retention import expire_runtime
from darkroom.engine.sweep import Swept, sweep
from darkroom.settings import Settings

if TYPE_CHECKING:
    from darkroom.adapters.local.webhook_dispatch import Dispatcher
    from darkroom.wiring import Runtime

log = logging.getLogger("darkroom.worker")

HOUSEKEEPING_SECONDS = 1.0
SWEEP_SECONDS = 300.0
CLAIM_SECONDS = 0.05  # work to claim at once, at most
MAX_CLAIM = 25  # jobs per claim at most (SQS answers at most 10 of them per receive)
ORPHAN_GRACE_SECONDS = 30.0  # an orphaned worker exits by then, wherever it is stuck


class Stop(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


def work(settings: Settings, stop: Stop, *, idle_seconds: float = 0.25) -> int:
    """Run jobs until `stop` is set; answer how many ran. `settings.worker_threads` jobs run at
    once (their pictures share model calls); housekeeping (publishing events a crashed worker
    left in the outbox, delivering webhooks, freeing dead claims) runs beside them."""
    from darkroom import wiring  # the loop is started in fresh processes

    runtime = wiring.build(settings)
    name = worker_name()
    _release_orphans(runtime)
    keeper = threading.Thread(target=_housekeeping, args=(runtime, stop), daemon=True)
    keeper.start()
    deliveries = _webhook_dispatcher(runtime)  # its own threads: a slow receiver stalls no sweep
    counts = [0] * settings.worker_threads

    def loop(slot: int) -> None:
        idle = 0.01
        batch = _BatchSize()
        while not stop.is_set():
            try:
                outcomes = runtime.engine.run_batch(name, batch.size)
            except Exception:  # the database away for a moment: the claim will expire
                log.exception("running a job failed; trying again")
                stop.wait(1.0)
                continue
            if not outcomes:
                stop.wait(idle)
                idle = min(idle * 2, idle_seconds)  # back off while the queue is empty
                continue
            idle = 0.01
            batch.learn([outcome.seconds for outcome in outcomes])
            counts[slot] += len(outcomes)

    threads = [
        threading.Thread(target=loop, args=(slot,), name=f"job-{slot}", daemon=True)
        for slot in range(1, settings.worker_threads)
    ]
    try:
        for thread in threads:
            thread.start()
        loop(0)
    finally:
        for thread in threads:
            thread.join()
        keeper.join(timeout=5)
        deliveries.stop()
        runtime.close()
    return sum(counts)


class _BatchSize:
    """Jobs to claim at once: as many as run in about CLAIM_SECONDS, 1 to MAX_CLAIM. Quick jobs
    share one claim call (one write transaction, one SQS request) instead of one each; slow ones
    are claimed one at a time, so no claim waits in hand while others run."""

    def __init__(self) -> None:
        self.seconds_per_job: float | None = None

    @property
    def size(self) -> int:
        if self.seconds_per_job is None:
            return 1
        return max(1, min(MAX_CLAIM, int(CLAIM_SECONDS / max(self.seconds_per_job, 1e-4))))

    def learn(self, seconds: list[float]) -> None:
        mean = sum(seconds) / len(seconds)
        known = self.seconds_per_job
        self.seconds_per_job = mean if known is None else 0.8 * known + 0.2 * mean


def _release_orphans(runtime: Runtime) -> None:
    """Jobs claimed by processes that died on this host (a killed ingest) are visible again
    at once, instead of after their visibility timeout. Only the local queue can tell."""
    release = getattr(runtime.queue, "release_orphans", None)
    if release is not None:
        count = release()
        if count:
            log.info("released jobs of dead workers", extra={"jobs": count})


def sweep_orphans(runtime: Runtime) -> Swept:
    return sweep(
        runtime.catalog,
        runtime.blobs,
        runtime.queue,
        runtime.claims,
        runtime.settings.orphan_grace_seconds,
    )


def _webhook_dispatcher(runtime: Runtime) -> Dispatcher:
    from darkroom.adapters.local.webhook_dispatch import Bounds, Dispatcher

    webhook = runtime.settings.webhook
    bounds = Bounds(webhook.senders, webhook.per_owner, webhook.per_subscription)
    return Dispatcher(runtime.webhooks, bounds).start()


def _housekeeping(runtime: Runtime, stop: Stop) -> None:
    last_release = time.monotonic()
    last_sweep = float("-inf")  # at start: what the last crash left
    last_expiry = 0.0
    while not stop.wait(HOUSEKEEPING_SECONDS):
        try:
            runtime.outbox.sweep()
            if time.monotonic() - last_release > 10:
                _release_orphans(runtime)
                last_release = time.monotonic()
            if time.monotonic() - last_sweep > SWEEP_SECONDS:
                sweep_orphans(runtime)
                last_sweep = time.monotonic()
            if time.monotonic() - last_expiry > 60:  # portraits past their retention period
                expire_runtime(runtime)
                last_expiry = time.monotonic()
        except Exception:
            log.exception("housekeeping failed; trying again")


class _StopWithParent:
    """Stop when the parent says so or is gone. The signal is the end of a pipe whose other end
    only the parent holds: closing it (WorkerPool.close) and the parent's death both give EOF.
    (A multiprocessing Event is a lock-guarded condition: a parent killed while setting it
    leaves the lock held, and its workers waiting for ever.) An orphan that has not finished
    within ORPHAN_GRACE_SECONDS of noticing (a job stuck in a call) exits anyway: its claims
    expire and are run again."""

    def __init__(self, signal: Connection) -> None:
        self.signal = signal
        self.parent = os.getppid()
        self._stopped = False
        self._deadline: threading.Timer | None = None

    def is_set(self) -> bool:
        return self.wait(0)

    def wait(self, timeout: float | None = None) -> bool:
        if not self._stopped and self.signal.poll(timeout):  # EOF (or a byte): stop
            self._stopped = True
        if not self._stopped:
            return False
        if os.getppid() != self.parent and self._deadline is None:
            log.warning("the parent process is gone: stopping")
            self._deadline = threading.Timer(ORPHAN_GRACE_SECONDS, os._exit, args=(1,))
            self._deadline.daemon = True
            self._deadline.start()
        return True


def _process_main(
    settings: Settings, stop: Connection, log_setup: Callable[[], None] | None, nice: int
) -> None:
    if nice:
        os.nice(nice)
    if log_setup is not None:
        log_setup()
    with contextlib.suppress(KeyboardInterrupt):
        work(settings, _StopWithParent(stop))


class WorkerPool:
    """N worker processes (spawned, so no state leaks from the parent)."""

    def __init__(
        self,
        settings: Settings,
        count: int,
        log_setup: Callable[[], None] | None = None,
        nice: int = 0,
    ):
        """`nice` lowers the workers' CPU priority: beside the HTTP API (`darkroom serve`), an
        upload is answered first and images are processed with the CPU left over."""
        self.context = mp.get_context("spawn")
        # The workers hold the reading end; closing the writing end (or dying) stops them.
        self._listen, self._stop = self.context.Pipe(duplex=False)
        self.processes = [
            self.context.Process(
                target=_process_main,
                args=(settings, self._listen, log_setup, nice),
                name=f"darkroom-worker-{i}",
            )
            for i in range(count)
        ]

    def start(self) -> WorkerPool:
        for process in self.processes:
            process.start()
        self._listen.close()  # the workers have their own copies
        return self

    def alive(self) -> int:
        return sum(process.is_alive() for process in self.processes)

    def close(self, timeout: float = 30.0) -> None:
        self._stop.close()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.join(max(0.1, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
