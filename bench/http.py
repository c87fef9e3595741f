"""4. HTTP: concurrent uploads of ~1 MB JPEGs for a bounded time while the embedded workers are
busy; accepted/s, p50/p99 latency, and a check that every 202 ended processed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import Row, percentile, photo_jpeg
from tests.server import free_port


async def _load(
    url: str, headers: dict[str, str], data: bytes, clients: int, seconds: float
) -> tuple[list[float], list[str], int]:
    latencies: list[float] = []
    accepted: list[str] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=limits
    ) as client:

        async def one_client(n: int) -> None:
            nonlocal errors
            sent = 0
            while time.perf_counter() < deadline:
                sent += 1
                # Bytes after the JPEG end marker: a distinct file each time, the same picture.
                body = data + f"client {n} upload {sent}".encode()
                started = time.perf_counter()
                try:
                    answer = await client.post(
                        "/upload", files={"file": (f"c{n}.jpg", body, "image/jpeg")}
                    )
                except httpx.TransportError:  # a dropped connection is an error, counted
                    errors += 1
                    continue
                if answer.status_code == 202:
                    latencies.append(time.perf_counter() - started)
                    accepted.append(answer.json()["image_id"])
                else:
                    errors += 1

        await asyncio.gather(*(one_client(n) for n in range(clients)))
    return latencies, accepted, errors


async def _paced(
    url: str, headers: dict[str, str], data: bytes, rate: float, seconds: float
) -> tuple[list[float], list[str], int]:
    """Open loop: uploads start on a fixed schedule whatever the answers, and latency counts
    from the scheduled start (a slow answer cannot hide the requests it delayed)."""
    latencies: list[float] = []
    accepted: list[str] = []
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=limits
    ) as client:

        async def one(n: int, due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body = data + f"paced upload {n}".encode()
            try:
                answer = await client.post(
                    "/upload", files={"file": (f"p{n}.jpg", body, "image/jpeg")}
                )
            except httpx.TransportError:
                errors += 1
                return
            if answer.status_code == 202:
                latencies.append(time.perf_counter() - due)
                accepted.append(answer.json()["image_id"])
            else:
                errors += 1

        await client.post("/upload", files={"file": ("warm.jpg", data, "image/jpeg")})
        start = time.perf_counter() + 0.5
        count = int(rate * seconds)
        await asyncio.gather(*(one(n, start + n / rate) for n in range(count)))
    return latencies, accepted, errors


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def run(quick: bool) -> list[Row]:
    clients, seconds = (10, 4.0) if quick else (50, 20.0)
    rate = 10.0 if quick else 20.0  # uploads/s offered for the latency row: below capacity
    data = photo_jpeg(1.2, seed=5, quality=92)  # about 1 MB
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "data"
        env = {
            **os.environ,
            "DARKROOM_HOME": str(home),
            "DARKROOM_LOG_LEVEL": "WARNING",
            "DARKROOM_DEFAULT_PLAN": "unlimited",
        }
        key = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "darkroom.cli.main",
                    "keys",
                    "create",
                    "--owner",
                    "bench",
                    "--admin",
                    "--json",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )["key"]
        port = free_port()
        server_log = (Path(tmp) / "serve.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "darkroom.cli.main", "serve", "--port", str(port), "-w", "2"],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        errors = paced_errors = 0
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(f"{url}/health")
            headers = {"X-API-Key": key}
            paced, paced_accepted, paced_errors = asyncio.run(
                _paced(url, headers, data, rate, seconds)
            )
            latencies, accepted, errors = asyncio.run(_load(url, headers, data, clients, seconds))
            closed_loop = len(accepted)
            accepted += paced_accepted
            drained_at = time.monotonic() + 600
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
                while time.monotonic() < drained_at:
                    stats = client.get("/stats").json()
                    if sum(
                        stats["images_by_status"].get(s, 0)
                        for s in ("completed", "rejected", "duplicate", "failed")
                    ) >= len(accepted):
                        break
                    time.sleep(0.5)
                statuses = {
                    image_id: client.get(f"/images/{image_id}").json()["status"]
                    for image_id in accepted
                }
        finally:
            server.terminate()
            server.wait(30)
            server_log.close()
            if errors or paced_errors:  # what the server said about the failures
                tail = (Path(tmp) / "serve.log").read_text(errors="replace")[-3000:]
                print(f"http: darkroom's server log ends:\n{tail}", file=sys.stderr)
        bare_port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_upload:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "BARE_UPLOAD_DIR": str(Path(tmp) / "bare")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            bare_url = f"http://127.0.0.1:{bare_port}"
            _wait(f"{bare_url}/docs")
            bare_paced, _, _ = asyncio.run(_paced(bare_url, {}, data, rate, seconds))
            bare_latencies, bare_accepted, _ = asyncio.run(
                _load(bare_url, {}, data, clients, seconds)
            )
        finally:
            bare.terminate()
            bare.wait(30)
    completed = sum(1 for status in statuses.values() if status == "completed")
    lost = len(accepted) - completed
    p99 = percentile(paced, 99) * 1000
    bare_p99 = percentile(bare_paced, 99) * 1000
    rows.append(
        Row(
            "http latency",
            f"{rate:g} uploads/s offered for {seconds:g}s, 1 MB JPEGs, 2 busy workers",
            "ms p99",
            p99,
            baseline=bare_p99,
            baseline_name="bare FastAPI file write, idle machine",
            target="p99 < 150 ms while workers are busy",
            met=p99 < 150 and paced_errors == 0,
            notes=(
                f"p50 {percentile(paced, 50) * 1000:.0f} ms (bare "
                f"{percentile(bare_paced, 50) * 1000:.0f}); {paced_errors} non-202; "
                "open loop, latency from the scheduled start"
            ),
            extra={"p50_ms": percentile(paced, 50) * 1000, "p99_ms": p99},
            higher_is_better=False,
        )
    )
    rows.append(
        Row(
            "http",
            f"{clients} clients x {seconds:g}s, 1 MB JPEGs, 2 busy workers",
            "uploads/s",
            closed_loop / seconds,
            baseline=len(bare_accepted) / seconds,
            baseline_name="bare FastAPI file write",
            target="every 202 processed",
            met=lost == 0,
            notes=(
                f"saturated, closed loop: p50 {percentile(latencies, 50) * 1000:.0f} ms, "
                f"p99 {percentile(latencies, 99) * 1000:.0f} ms (bare: p50 "
                f"{percentile(bare_latencies, 50) * 1000:.0f}, "
                f"p99 {percentile(bare_latencies, 99) * 1000:.0f}); {len(accepted)} accepted, "
                f"{completed} completed, {lost} not completed, {errors} non-202"
            ),
            extra={"lost": float(lost)},
        )
    )
    return rows
