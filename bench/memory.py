"""6. Memory: peak RSS of a worker process running the pets recipe over 24 MP JPEGs, against the
typical handler's on the same file."""

from __future__ import annotations

import multiprocessing as mp
import tempfile
from pathlib import Path

from bench.common import Row, write_photos


def peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM). ru_maxrss would also count the parent's
    memory at the time of the spawn, which Linux carries across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _darkroom_peak(folder: str, home: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from darkroom.settings import Settings
    from darkroom.wiring import build

    runtime = build(Settings(home=Path(home), log_level="WARNING"))
    for path in sorted(Path(folder).glob("*.jpg")):
        runtime.intake.accept_path(path, "bench", "pets")
    while runtime.engine.run_next("bench") is not None:
        pass
    statuses = runtime.catalog.count_by_status()
    queue.put((peak_rss_mb(), statuses))


def _typical_peak(folder: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from bench.thumbnail import typical

    for path in sorted(Path(folder).glob("*.jpg")):
        typical(path.read_bytes())
    queue.put((peak_rss_mb(), {}))


def _measure(target: object, *args: object) -> tuple[float, dict[str, int]]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))  # type: ignore[arg-type]
    process.start()
    megabytes, statuses = queue.get(timeout=600)
    process.join()
    return megabytes, statuses


def run(quick: bool) -> list[Row]:
    count, megapixels = (2, 12.0) if quick else (3, 24.0)
    with tempfile.TemporaryDirectory() as tmp:
        write_photos(Path(tmp) / "photos", count, megapixels)
        ours, statuses = _measure(
            _darkroom_peak, str(Path(tmp) / "photos"), str(Path(tmp) / "home")
        )
        theirs, _ = _measure(_typical_peak, str(Path(tmp) / "photos"))
    assert statuses.get("completed") == count, statuses
    return [
        Row(
            "memory",
            f"worker peak RSS, {count} x {megapixels:g} MP",
            "MB",
            ours,
            baseline=theirs,
            baseline_name="typical handler process",
            higher_is_better=False,
            target="< 300 MB",
            met=ours < 300,
        )
    ]
