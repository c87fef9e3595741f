"""`python -m bench [--quick] [--only NAME ...] [--json]`: one run, one table.

Every row holds darkroom's figure and a baseline measured in the same run, and their ratio
(above 1: darkroom is better). The machines are noisy: read ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from bench import (
    accuracy,
    catalog,
    engine,
    engine_peers,
    http,
    ingest,
    memory,
    retrieval,
    search,
    search_peers,
    thumbnail,
    video,
    web,
)
from bench.common import Row

BENCHES: dict[str, Callable[[bool], list[Row]]] = {
    "thumbnail": thumbnail.run,
    "engine": engine.run,
    "engine_peers": engine_peers.run,
    "ingest": ingest.run,
    "http": http.run,
    "memory": memory.run,
    "search": search.run,
    "search_peers": search_peers.run,
    "retrieval": retrieval.run,
    "catalog": catalog.run,
    "web": web.run,
    "accuracy": accuracy.run,
    "video": video.run,
}


def machine() -> str:
    import os

    python = platform.python_version()
    system = platform.platform(terse=True)
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {python}, {system}"


def table(rows: list[Row], title: str) -> Table:
    out = Table(title=title)
    for column in ("bench", "case", "darkroom", "baseline", "ratio", "target", "met", "notes"):
        out.add_column(column, overflow="fold")
    for row in rows:
        spread = f" ({row.spread[0]:.1f}-{row.spread[1]:.1f})" if row.spread else ""
        baseline = (
            f"{row.baseline:.1f} {row.unit} ({row.baseline_name})"
            if row.baseline is not None
            else "-"
        )
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[row.met]
        out.add_row(
            row.bench,
            row.case,
            f"{row.darkroom:.1f} {row.unit}{spread}",
            baseline,
            ratio,
            row.target,
            met,
            row.notes,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke run")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these")
    parser.add_argument("--json", action="store_true", help="print rows as JSON lines")
    parser.add_argument(
        "--large", action="store_true", help="add the 1M-vector search row (~15 minutes)"
    )
    args = parser.parse_args(argv)
    search.LARGE = args.large
    console = Console(stderr=args.json, width=None if sys.stdout.isatty() else 240)
    rows: list[Row] = []
    started = time.monotonic()
    for name in args.only or list(BENCHES):
        console.print(f"[dim]running {name}...[/]")
        rows.extend(BENCHES[name](args.quick))
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps({**dataclasses.asdict(row), "ratio": row.ratio}) + "\n")
    else:
        mode = "quick" if args.quick else "full"
        console.print(
            table(
                rows, f"darkroom bench ({mode}) on {machine()}, {time.monotonic() - started:.0f} s"
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
