"""6. Memory: peak RSS of a worker process running the pets recipe over 24 MP JPEGs, against the
typical handler's on the same file; and the API process and a worker decode on the hostile files
of issue #13 (PNGs of zeros declaring 120 MP), against the 512 MB budget."""

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
        *hostile_rows(quick),
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
        ),
    ]


def _decode_peak(path: str, box: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from darkroom import imaging
    from darkroom.domain.errors import Rejected
    from darkroom.settings import Limits

    try:
        imaging.decode(path, Limits(), box)
        outcome = "decoded"
    except Rejected as exc:
        outcome = f"rejected: {str(exc).split(':')[0]}"
    queue.put((peak_rss_mb(), {outcome: 1}))


def _typical_decode_peak(path: str, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # what a handler that "fixes" the bomb warning does
    from bench.thumbnail import typical

    typical(Path(path).read_bytes())
    queue.put((peak_rss_mb(), {}))


def _server_peak(files: dict[str, bytes]) -> dict[str, float]:
    """A real `darkroom serve` (no workers): its peak RSS after each hostile search."""
    import httpx

    from tests.server import make_server

    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = make_server(Path(tmp), default_plan="unlimited", max_body_bytes="2000000")
        key = server.create_key("bench", "bench")
        server.start(workers=0)
        assert server.process is not None
        try:
            status = Path(f"/proc/{server.process.pid}/status")
            for name, data in files.items():
                httpx.post(
                    f"{server.url}/search/similar",
                    files={"file": ("q.png", data, "image/png")},
                    headers={"X-API-Key": key},
                    timeout=300,
                )
                line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM"))
                peaks[name] = int(line.split()[1]) / 1024
        finally:
            server.stop()
    return peaks


def hostile_rows(quick: bool) -> list[Row]:
    """Issue #13 item 7: the files that took 2.4 GB, and the largest the budget admits."""
    from tests.hostile import WORST, zeros_png

    files = {name: make() for name, (make, _) in WORST.items()}
    files["largest RGB admitted, 11000x8000"] = zeros_png(11000, 8000)
    if not quick:
        files["largest 16-bit admitted, 6600x6600"] = zeros_png(6600, 6600, 1, 16)
    peaks = _server_peak(files)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            path = Path(tmp) / "hostile.png"
            path.write_bytes(data)
            worker, outcome = _measure(_decode_peak, str(path), 1024)
            theirs, _ = _measure(_typical_decode_peak, str(path))
            for where, ours in (("API process", peaks[name]), ("worker decode", worker)):
                rows.append(
                    Row(
                        "memory",
                        f"{where} peak RSS, {name} ({len(data) // 1024} KB)",
                        "MB",
                        ours,
                        baseline=theirs,
                        baseline_name="Pillow open+convert+thumbnail",
                        higher_is_better=False,
                        target="< 512 MB",
                        met=ours < 512,
                        notes=", ".join(outcome),
                    )
                )
    return rows
