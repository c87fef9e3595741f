"""The few reads only the UI makes: counts for the gallery, what happened to one image (events,
webhook deliveries), and the numbers behind the plots."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Text, and_, cast, func, select

from darkroom.adapters.sql import schema as t
from darkroom.adapters.sql.database import Database

PLOT_DAYS = 14


@dataclass(frozen=True)
class Counts:
    by_class: dict[str, int]  # completed images
    by_status: dict[str, int]
    uncertain: int
    total: int


def counts(image_counts: dict[tuple[str, str, bool], int]) -> Counts:
    by_class: dict[str, int] = defaultdict(int)
    by_status: dict[str, int] = defaultdict(int)
    uncertain = 0
    for (status, class_name, is_uncertain), n in image_counts.items():
        by_status[status] += n
        if status == "completed":
            by_class[class_name or "(none)"] += n
            uncertain += n if is_uncertain else 0
    return Counts(
        dict(sorted(by_class.items())), dict(by_status), uncertain, sum(by_status.values())
    )


def events_about(db: Database, image_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """Events whose detail names the image, oldest first. Ids are unique random strings, so a
    match in the detail's text is a match on the image."""
    e = t.events.c
    sql = (
        select(e.id, e.source, e.detail_type, e.time, e.published)
        .where(cast(e.detail, Text).like(f"%{image_id}%"))
        .order_by(e.time)
        .limit(limit)
    )
    with db.read() as conn:
        return [dict(row._mapping) for row in conn.execute(sql)]


def deliveries_about(db: Database, image_id: str, owner: str, limit: int = 100) -> list[Any]:
    d = t.webhook_deliveries.c
    sql = (
        select(d.id, d.url, d.detail_type, d.state, d.attempts, d.last_status, d.created_at)
        .where(and_(d.owner == owner, cast(d.payload, Text).like(f"%{image_id}%")))
        .order_by(d.created_at)
        .limit(limit)
    )
    with db.read() as conn:
        return [dict(row._mapping) for row in conn.execute(sql)]


@dataclass(frozen=True)
class Bars:
    """A stacked bar chart, already laid out for an SVG of `width` x `height`."""

    days: list[str]
    classes: list[str]
    rects: list[dict[str, Any]]  # x, y, w, h, cls, label
    peak: int
    width: int = 560
    height: int = 160


def per_class_per_day(db: Database, owner: str, days: int = PLOT_DAYS) -> Bars:
    """Images per class per day over the last `days` days (completed ones, by arrival)."""
    since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=days - 1
    )
    c = t.images.c
    bucket = (
        cast(c.created_at / 86400, Integer)  # SQLite's CAST truncates
        if db.is_sqlite
        else cast(func.floor(c.created_at / 86400), Integer)  # PostgreSQL's would round
    )
    sql = (
        select(bucket, c.class_name, func.count())
        .where(and_(c.owner == owner, c.status == "completed", c.created_at >= since.timestamp()))
        .group_by(bucket, c.class_name)
    )
    grid: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with db.read() as conn:
        for number, class_name, n in conn.execute(sql):
            label = datetime.fromtimestamp(int(number) * 86400, UTC).strftime("%m-%d")
            grid[label][class_name or "(none)"] += n
    labels = [(since + timedelta(days=i)).strftime("%m-%d") for i in range(days)]
    classes = sorted({cls for day in grid.values() for cls in day})
    peak = max((sum(day.values()) for day in grid.values()), default=0)
    bars = Bars(labels, classes, [], peak)
    slot = bars.width / days
    for i, day in enumerate(labels):
        bottom = float(bars.height)
        for k, cls in enumerate(classes):
            n = grid.get(day, {}).get(cls, 0)
            if not n:
                continue
            h = bars.height * n / peak
            bottom -= h
            bars.rects.append(
                {
                    "x": round(i * slot + 2, 1),
                    "y": round(bottom, 1),
                    "w": round(slot - 4, 1),
                    "h": round(h, 1),
                    "series": k % 8,
                    "label": f"{day} {cls}: {n}",
                }
            )
    return bars


def step_latency(
    db: Database, window: float = 24 * 3600, sample: int = 20_000
) -> list[dict[str, Any]]:
    """p50, p95 and p99 of each step's seconds over the last day (its newest `sample` runs)."""
    s = t.step_results.c
    sql = (
        select(s.step, s.seconds)
        .where(s.finished_at >= time.time() - window)
        .order_by(s.finished_at.desc())
        .limit(sample)
    )
    per_step: dict[str, list[float]] = defaultdict(list)
    with db.read() as conn:
        for step, seconds in conn.execute(sql):
            per_step[step].append(float(seconds or 0.0))
    rows = []
    for step, values in sorted(per_step.items()):
        values.sort()

        def at(q: float, values: list[float] = values) -> float:
            return values[min(len(values) - 1, int(q * len(values)))] * 1000

        rows.append(
            {"step": step, "runs": len(values), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99)}
        )
    return rows
