"""2. Engine overhead: a recipe of no-op steps through the real queue, catalog and event bus,
two worker processes, against a bare durable SQLite queue doing only claim and delete."""

from __future__ import annotations

import io
import multiprocessing as mp
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import Row
from bench.steps import NOOP_RECIPE
from darkroom.engine.worker import WorkerPool
from darkroom.settings import Settings
from darkroom.wiring import build

WORKERS = 2
STEPS = 5


def darkroom_jobs_per_second(home: Path, jobs: int) -> float:
    recipes = home / "recipes"
    recipes.mkdir(parents=True)
    (recipes / "noop.yaml").write_text(NOOP_RECIPE)
    settings = Settings(home=home / "data", recipes_dir=recipes, log_level="WARNING")
    runtime = build(settings)
    for n in range(jobs):
        runtime.intake.accept_stream(
            io.BytesIO(b"x"), filename=f"{n}.bin", owner="bench", recipe="noop"
        )
    pool = WorkerPool(settings, WORKERS)
    pool.start()
    warm = jobs // 10  # the clock starts once both workers run: not their start-up (imports)
    try:
        while (done := runtime.catalog.count_by_status().get("completed", 0)) < warm:
            time.sleep(0.05)
        started, first = time.perf_counter(), done
        while runtime.catalog.count_by_status().get("completed", 0) < jobs:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        pool.close()
        runtime.close()
    return (jobs - first) / elapsed


def _bare_worker(path: str, done: mp.Value) -> None:  # type: ignore[valid-type]
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    while True:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "UPDATE jobs SET visible_at = ? WHERE id = (SELECT id FROM jobs WHERE visible_at <= ? "
            "ORDER BY visible_at LIMIT 1) RETURNING id",
            (time.time() + 60, time.time()),
        ).fetchone()
        conn.execute("COMMIT")
        if row is None:
            return
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM jobs WHERE id = ?", row)
        conn.execute("COMMIT")


def bare_jobs_per_second(home: Path, jobs: int) -> float:
    path = str(home / "bare.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, visible_at REAL)")
    conn.execute("CREATE INDEX ix ON jobs (visible_at)")
    conn.executemany("INSERT INTO jobs (visible_at) VALUES (?)", [(0.0,)] * jobs)
    conn.commit()
    conn.close()
    context = mp.get_context("spawn")
    processes = [context.Process(target=_bare_worker, args=(path, None)) for _ in range(WORKERS)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return jobs / (time.perf_counter() - started)


def run(quick: bool) -> list[Row]:
    jobs = 300 if quick else 3000
    with tempfile.TemporaryDirectory() as tmp:
        ours = darkroom_jobs_per_second(Path(tmp) / "darkroom", jobs)
        bare = bare_jobs_per_second(Path(tmp), jobs)
    per_job_ms = WORKERS / ours * 1000
    per_step_ms = per_job_ms / (STEPS + 1)  # the steps and the job's own claim/finish
    return [
        Row(
            "engine",
            f"{STEPS} no-op steps, {WORKERS} workers, {jobs} jobs",
            "jobs/s",
            ours,
            baseline=bare,
            baseline_name="bare SQLite claim+delete",
            target=">= 1000 jobs/s, < 2 ms/step",
            met=ours >= 1000 and per_step_ms < 2,
            notes=f"{per_job_ms:.2f} ms per job per worker, {per_step_ms:.2f} ms per step",
            extra={"per_step_ms": per_step_ms},
        )
    ]
