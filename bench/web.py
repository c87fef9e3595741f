"""The web UI with 10,000 images in the catalogue: how long a real `darkroom serve` takes to
answer the gallery's first page and a words search (p50, p95 over repeated requests on
loopback), against the API's JSON for the same rows (GET /images, GET /search)."""

from __future__ import annotations

import json
import random
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from bench.common import Row, percentile
from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.catalog_rows import image_row
from darkroom.domain.ids import new_id
from darkroom.domain.records import Image, ImageStatus, Label
from darkroom.settings import Settings
from darkroom.wiring import build
from tests.server import make_server

CLASSES = ("cat", "dog", "other")
WORDS = ("sofa", "garden", "beach", "kitchen", "window", "snow", "grass", "street")


def populate(home: Path, count: int, owner: str) -> None:
    """`count` completed images of one owner, over the last two weeks, in the catalogue and
    the full-text index (rows written directly: the bench measures reading them)."""
    rt = build(Settings(home=home))
    rng = random.Random(5)
    now = datetime.now(UTC)
    rows, texts = [], []
    for i in range(count):
        cls = CLASSES[i % 3]
        image_id = new_id()
        created = now - timedelta(seconds=rng.uniform(0, 14 * 86400))
        words = f"{cls} {rng.choice(WORDS)} {rng.choice(WORDS)} photo{i}"
        image = Image(
            id=image_id,
            owner=owner,
            recipe="pets",
            filename=f"photo{i}.jpg",
            location=f"{cls}s/{owner}/{image_id}.jpg",
            status=ImageStatus.COMPLETED,
            class_name=cls,
            confidence=round(rng.uniform(50, 99), 1),
            uncertain=rng.random() < 0.1,
            labels=[Label(cls, 90.0, box=(0.1, 0.1, 0.5, 0.5))],
            thumbnail=f"thumbnails/{owner}/{image_id}/800.jpg",
            width=800,
            height=600,
            format="JPEG",
            size_bytes=120_000,
            created_at=created,
            updated_at=created,
        )
        rows.append(image_row(image))
        texts.append((image_id, words))
    with rt.db.atomic() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(t.images), rows[start : start + 1000])
        for image_id, words in texts:
            rt.text.upsert(owner, image_id, words, {"class_name": words.split()[0]})
    rt.close()


def _times(
    client: httpx.Client, path: str, repeats: int, server: list[float] | None = None
) -> list[float]:
    """Round trips in ms; the UI's own time (its Server-Timing header) into `server`."""
    client.get(path).raise_for_status()  # warm: templates compiled, caches filled
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        timing = re.search(r"app;dur=([0-9.]+)", answer.headers.get("server-timing", ""))
        if server is not None and timing:
            server.append(float(timing.group(1)))
    return out


def run(quick: bool) -> list[Row]:
    count, repeats = (1_000, 10) if quick else (10_000, 100)
    with tempfile.TemporaryDirectory() as tmp:
        server = make_server(
            Path(tmp),
            default_plan="unlimited",
            plans=json.dumps({"unlimited": {"rate": 1_000_000, "burst": 1_000_000}}),
        )
        populate(server.home, count, "bench")
        key = server.create_key("bench", "bench")
        server.start(workers=1)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as ui:
                signed = ui.post("/ui/signin", data={"api_key": key})
                assert signed.status_code == 303, signed.text
                page = ui.get("/ui/")
                tiles = len(re.findall(r'class="tile ', page.text))
                gallery_server: list[float] = []
                search_server: list[float] = []
                gallery = _times(ui, "/ui/", repeats, gallery_server)
                search = _times(ui, "/ui/search?q=sofa+garden", repeats, search_server)
            with server.client(key) as api:
                listed = _times(api, "/images?limit=48", repeats)
                found = _times(api, "/search?q=sofa+garden&limit=48", repeats)
        finally:
            server.stop()
    rows = []
    budget = 250.0
    cases = (
        (f"gallery first page ({tiles} tiles)", gallery, gallery_server, listed, "GET /images"),
        ("words search", search, search_server, found, "GET /search"),
    )
    for case, darkroom, in_app, baseline, name in cases:
        server_p95 = percentile(in_app, 95)
        rows.append(
            Row(
                bench="web",
                case=f"{case}, {count:,} images",
                unit="ms",
                darkroom=server_p95,
                baseline=percentile(baseline, 95),
                baseline_name=f"round trip p95 of the API's JSON, {name}",
                higher_is_better=False,
                target=f"server time p95 < {budget:.0f} ms",
                met=server_p95 < budget,
                notes=(
                    f"server time (Server-Timing) p95, p50 {percentile(in_app, 50):.1f} ms; "
                    f"round trip p95 {percentile(darkroom, 95):.1f} ms; {repeats} requests"
                ),
            )
        )
    return rows
