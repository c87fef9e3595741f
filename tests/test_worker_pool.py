"""The worker pool's processes stop when told and when their parent dies (kill -9 leaves no
worker running on: it would hold claims and the database, and double the next start's pool)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from darkroom.engine.worker import WorkerPool
from darkroom.settings import Settings

pytestmark = pytest.mark.slow  # worker processes

PARENT = """
import sys, time
from darkroom.engine.worker import WorkerPool
from darkroom.settings import Settings
pool = WorkerPool(Settings(home=sys.argv[1]), 2).start()
print(" ".join(str(p.pid) for p in pool.processes), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_close_stops_every_worker(tmp_path: Path) -> None:
    pool = WorkerPool(Settings(home=tmp_path / "data"), 2).start()
    time.sleep(3)  # past start-up: they wait for work
    assert pool.alive() == 2
    started = time.monotonic()
    pool.close()
    assert pool.alive() == 0
    assert time.monotonic() - started < 10
    assert [process.exitcode for process in pool.processes] == [0, 0]


def test_workers_of_a_killed_parent_stop(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert parent.stdout is not None
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) == 2
    time.sleep(3)
    assert all(alive(pid) for pid in workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert wait_gone(workers, 20) == [], "workers outlived their killed parent"
