"""The command line, run as a user runs it: real processes, real files, real kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from darkroom.adapters.sql import schema
from darkroom.domain.records import ImageStatus
from darkroom.settings import Settings
from darkroom.wiring import build
from tests import images

RED, GREEN, BLUE = (250, 10, 10), (10, 250, 10), (10, 10, 250)
CLASS_FOLDERS = ("cats", "dogs", "others")


def darkroom(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "darkroom.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def make_folder(root: Path, count: int, size: tuple[int, int] = (320, 240)) -> list[Path]:
    tints = [RED, GREEN, BLUE, (128, 128, 128)]
    return [
        images.save(
            images.photo(*size, seed=n, tint=tints[n % 4]),
            root / f"sub{n % 3}" / f"p{n:03}.jpg",
            quality=88,
        )
        for n in range(count)
    ]


def stored_originals(home: Path) -> list[Path]:
    return [
        p for folder in ("input", *CLASS_FOLDERS) for p in (home / folder).rglob("*") if p.is_file()
    ]


@pytest.mark.slow  # worker processes (ingest through the CLI)
def test_ingest_json_reports_every_file(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    make_folder(folder, 4)
    (folder / "notes.txt").write_text("not a picture")
    images.save(images.photo(64, 64, seed=0, tint=RED), folder / ".hidden.jpg")
    (folder / "sub0" / "copy.jpg").write_bytes((folder / "sub0" / "p000.jpg").read_bytes())
    result = darkroom("ingest", str(folder), "--recipe", "colour-pets", "--json", "-c", "2")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 6  # hidden file skipped
    by_file = {Path(r["file"]).name: r for r in records}
    for record in records:
        for field in (
            "file",
            "image_id",
            "status",
            "class",
            "confidence",
            "uncertain",
            "labels",
            "location",
            "thumbnail",
            "width",
            "height",
            "sha256",
            "error",
        ):
            assert field in record
    assert (
        by_file["notes.txt"]["status"] == "rejected"
        and "not an image" in by_file["notes.txt"]["error"]
    )
    statuses = sorted(by_file[name]["status"] for name in ("p000.jpg", "copy.jpg"))
    assert statuses == ["completed", "duplicate"]
    original = next(
        by_file[n] for n in ("p000.jpg", "copy.jpg") if by_file[n]["status"] == "completed"
    )
    assert (original["class"], original["confidence"], original["uncertain"]) == (
        "cat",
        95.0,
        False,
    )
    green = by_file["p001.jpg"]
    assert (green["class"], green["confidence"], green["uncertain"]) == ("cat", 65.0, True)
    assert green["labels"] == [{"name": "cat", "confidence": 65.0, "provider": "test-colour"}]
    blue = by_file["p002.jpg"]
    assert blue["class"] == "dog" and blue["location"].startswith(
        (settings.home.resolve() / "dogs").as_uri()
    )
    assert (blue["width"], blue["height"]) == (320, 240) and len(blue["sha256"]) == 64
    assert Path(blue["thumbnail"].removeprefix("file://")).is_file()


@pytest.mark.slow  # worker processes
def test_ingest_table_and_exit_status_on_failure(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    images.save(images.photo(64, 64, seed=1), folder / "fine.jpg")
    images.save(images.photo(64, 64, seed=2), folder / "poison.jpg")
    result = darkroom("ingest", str(folder), "--recipe", "poisoned", "-q")
    assert result.returncode == 1
    assert "failed" in result.stdout and "poisoned by poison.jpg" in result.stdout
    listing = darkroom("dlq", "list", "--json")
    [letter] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert letter["attempts"] == 3 and "poisoned by poison.jpg" in letter["error"]
    assert darkroom("dlq", "replay", letter["image_id"]).returncode == 0
    shown = json.loads(darkroom("images", "show", letter["image_id"], "--json").stdout)
    assert shown["status"] == "queued"
    assert darkroom("dlq", "replay", "nope").returncode == 1


def test_ingest_unknown_recipe_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    images.save(images.photo(64, 64), tmp_path / "a.jpg")
    result = darkroom("ingest", str(tmp_path / "a.jpg"), "--recipe", "nope")
    assert result.returncode == 2 and "unknown recipe 'nope'" in result.stderr


@pytest.mark.slow  # worker processes
def test_images_list_show_and_recipes(settings: Settings, tmp_path: Path) -> None:
    make_folder(tmp_path / "photos", 3)
    assert (
        darkroom("ingest", str(tmp_path / "photos"), "--recipe", "colour-pets", "-q").returncode
        == 0
    )
    listed = [json.loads(line) for line in darkroom("images", "list", "--json").stdout.splitlines()]
    assert len(listed) == 3 and {r["status"] for r in listed} == {"completed"}
    dogs = [
        json.loads(line)
        for line in darkroom("images", "list", "--class", "dog", "--json").stdout.splitlines()
    ]
    assert [r["class"] for r in dogs] == ["dog"]
    shown = json.loads(darkroom("images", "show", listed[0]["image_id"], "--json").stdout)
    assert set(shown["steps"]) >= {"validate", "classify", "organize"}
    assert shown["detection_records"][0]["ImageID"] == listed[0]["image_id"]
    assert darkroom("images", "show", "0" * 32).returncode == 1
    table = darkroom("images", "list").stdout
    assert "3 images" in table
    recipes = [
        json.loads(line) for line in darkroom("recipes", "list", "--json").stdout.splitlines()
    ]
    assert "pets" in {r["name"] for r in recipes}
    pets = json.loads(darkroom("recipes", "show", "pets", "--json").stdout)
    assert pets["steps"][5]["with"]["thresholds"] == {"high": 80.0, "low": 50.0}
    # Redirected at 80 columns, the YAML is still YAML: no console wraps its long lines.
    shown_yaml = darkroom("recipes", "show", "pets", env={"COLUMNS": "80"}).stdout
    assert yaml.safe_load(shown_yaml) == pets


def wait_for(predicate: object, timeout: float = 120, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(every)
    raise TimeoutError("condition not met in time")


def counts(settings: Settings) -> dict[str, int]:
    runtime = build(settings)
    try:
        return runtime.catalog.count_by_status()
    finally:
        runtime.close()


@pytest.mark.slow
def test_killed_ingest_resumes_without_doing_anything_twice(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    files = make_folder(folder, 40, size=(1600, 1200))
    process = subprocess.Popen(
        [sys.executable, "-m", "darkroom.cli.main", "ingest", str(folder), "-c", "2", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: counts(settings).get("completed", 0) >= 5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = counts(settings)
    assert sum(partial.values()) < 40 or partial.get("completed", 0) < 40  # killed mid-run
    time.sleep(1.5)  # orphaned workers notice their parent is gone
    result = darkroom("ingest", str(folder), "-c", "2", "--json", "-q")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(files)
    assert {r["status"] for r in records} == {"completed"}
    assert len({r["image_id"] for r in records}) == len(files)
    assert len(stored_originals(settings.home)) == len(files)  # each original in one place
    assert not list((settings.home / "input").rglob("*.jpg"))
    assert counts(settings) == {"completed": len(files)}


@pytest.mark.slow
def test_crash_a_worker_mid_run_and_every_image_completes_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    files = make_folder(tmp_path / "photos", 60, size=(1200, 900))
    runtime = build(settings)
    try:
        ids = [runtime.intake.accept_path(path, "default", "pets").image.id for path in files]
    finally:
        runtime.close()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "darkroom.cli.main", "worker"], stderr=subprocess.DEVNULL
        )
        for _ in range(2)
    ]
    try:
        wait_for(lambda: counts(settings).get("completed", 0) >= 10)
        os.kill(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
        assert counts(settings).get("completed", 0) < 60  # the kill came mid-run
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "darkroom.cli.main", "worker"], stderr=subprocess.DEVNULL
            )
        )
        wait_for(lambda: counts(settings).get("completed", 0) == 60, timeout=240)
    finally:
        for worker in workers[1:]:
            worker.terminate()
            worker.wait(30)
    runtime = build(settings)
    try:
        for image in runtime.catalog.images_by_ids(ids):
            assert image.status is ImageStatus.COMPLETED
            assert len(runtime.catalog.detection_records(image.id)) == 1
            places = [f"{folder}/default/{image.id}.jpg" for folder in ("input", *CLASS_FOLDERS)]
            assert [runtime.blobs.exists(key) for key in places].count(True) == 1
            assert image.location in places and runtime.blobs.exists(image.location)
        with runtime.db.read() as conn:
            done_events = conn.execute(
                select(func.count())
                .select_from(schema.events)
                .where(schema.events.c.detail_type == "ImageProcessed")
            ).scalar()
            detections = conn.execute(
                select(func.count()).select_from(schema.detection_logs)
            ).scalar()
        assert done_events == 60 and detections == 60
        assert runtime.queue.depth() == {"ready": 0, "delayed": 0, "in_flight": 0, "dead": 0}
    finally:
        runtime.close()
    assert len(stored_originals(settings.home)) == 60


@pytest.mark.slow  # worker processes
def test_search_works_right_after_ingest(settings: Settings, tmp_path: Path) -> None:
    from PIL import Image
    from skimage import data as samples

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        Image.fromarray(getattr(samples, name)()).save(folder / f"{name}.jpg", quality=90)
    assert darkroom("ingest", str(folder), "-q").returncode == 0  # the default pets recipe
    probe = tmp_path / "cat-small.png"
    Image.fromarray(samples.chelsea()).resize((200, 133)).save(probe)
    result = darkroom("search", "--like", str(probe), "--json")
    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits[0]["file"].endswith("chelsea.jpg") and hits[0]["score"] > 0.95
    assert {"image_id", "score", "status", "class", "location"} <= set(hits[0])
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)  # best first
    words = [
        json.loads(line) for line in darkroom("search", "coffee", "--json").stdout.splitlines()
    ]
    assert [Path(h["file"]).name for h in words] == ["coffee.jpg"]
    assert darkroom("search", "zeppelin").stdout.strip() == "nothing found"
    assert darkroom("search").returncode == 2


def test_models_list_reports_what_can_run_here(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = {
        r["name"]: r
        for r in map(json.loads, darkroom("models", "list", "--json").stdout.splitlines())
    }
    assert {"opencv", "onnx", "rekognition", "descriptor"} <= set(rows)
    assert rows["opencv"]["status"] == "ready" and rows["descriptor"]["kind"] == "embedder"

    import importlib.util

    from darkroom.providers import registry

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real(name, *a),
    )
    assert registry.readiness()["onnx"] == 'missing onnxruntime (pip install "darkroom[onnx]")'


@pytest.mark.slow  # worker processes
def test_pool_workers_run_at_the_priority_asked(settings: Settings) -> None:
    """`serve` lowers its workers' priority so the API answers first; the drop is applied in the
    worker process itself, on top of the parent's niceness."""
    from darkroom.engine.worker import WorkerPool

    pool = WorkerPool(settings, 1, nice=7).start()
    try:
        child = pool.processes[0].pid
        assert child is not None
        deadline = time.monotonic() + 30
        expected = os.getpriority(os.PRIO_PROCESS, 0) + 7
        while os.getpriority(os.PRIO_PROCESS, child) != expected:
            assert time.monotonic() < deadline, "the worker never lowered its priority"
            time.sleep(0.05)
    finally:
        pool.close()


@pytest.mark.slow  # worker processes, and a FIFO left unopened
def test_ingest_rejects_what_is_not_a_regular_file(settings: Settings, tmp_path: Path) -> None:
    # Why: a FIFO named *.jpg hung ingest forever and a broken symlink crashed it with no line
    # for the valid files beside them (issue #13 item 17).
    folder = tmp_path / "photos"
    make_folder(folder, 2)
    os.mkfifo(folder / "pipe.jpg")
    (folder / "gone.jpg").symlink_to(folder / "nowhere.jpg")
    result = darkroom("ingest", str(folder), "--recipe", "colour-pets", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    by_file = {Path(r["file"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert by_file["pipe.jpg"]["status"] == "rejected"
    assert "not a regular file (a FIFO)" in by_file["pipe.jpg"]["error"]
    assert by_file["gone.jpg"]["status"] == "rejected"
    assert "cannot read" in by_file["gone.jpg"]["error"]
    assert sum(r["status"] == "completed" for r in by_file.values()) == 2
    again = darkroom("ingest", str(folder), "--recipe", "colour-pets", "--json", timeout=120)
    assert len(again.stdout.splitlines()) == 4  # the same four lines, nothing doubled
