"""The catalogue's view of an ingest: garments and colours per image, when the recipe made them."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from darkroom.cli.ingest import Report
from darkroom.cli.output import console
from darkroom.engine.facets import check_filters
from darkroom.wiring import Runtime

MAX_ROWS = 200


def garments_text(output: dict[str, Any]) -> str:
    garments = output.get("garments")
    if not isinstance(garments, list):
        return ""
    if not garments:
        return f"- ({output['reason']})" if output.get("reason") else "-"
    shown = []
    for garment in garments:
        attributes = [
            entry["value"] for values in garment.get("attributes", {}).values() for entry in values
        ]
        shown.append(" ".join([garment["category"], *[f"[{a}]" for a in attributes[:4]]]))
    return "; ".join(shown)


def colours_text(output: dict[str, Any]) -> str:
    colours = output.get("colours")
    if not isinstance(colours, list):
        return ""
    return ", ".join(f"{c['name']} {c['share']:.0%}" for c in colours)


def print_catalogue(report: Report, runtime: Runtime) -> None:
    """A row per image whose job described garments or colours; nothing for other recipes."""
    images = sorted(report.images.values(), key=lambda image: image.filename)
    jobs = [image.job_id for image in images if image.job_id]
    outputs = runtime.catalog.steps_outputs(jobs) if jobs else {}
    rows = []
    for image in images:
        steps = outputs.get(image.job_id or "", {})
        garments = next((o for o in steps.values() if "garments" in o), None)
        colours = next((o for o in steps.values() if "colours" in o), None)
        if garments is None and colours is None:
            continue
        rows.append(
            (
                image.filename,
                image.status.value,
                garments_text(garments or {}),
                colours_text(colours or {}),
            )
        )
    if not rows:
        return
    table = Table(title="catalogue")
    for column in ("file", "status", "garments", "colours"):
        table.add_column(column)
    for row in rows[:MAX_ROWS]:
        table.add_row(*row)
    console.print(table)
    if len(rows) > MAX_ROWS:
        console.print(f"  ... and {len(rows) - MAX_ROWS} more (darkroom images show ID)")


def parse_facets(given: list[str]) -> dict[str, list[str]]:
    """`--facet colour=red --facet colour=blue,green --facet category=dress`."""
    found: dict[str, list[str]] = {}
    for item in given:
        family, equals, values = item.partition("=")
        if not equals:
            raise ValueError(f"--facet {item!r}: write FAMILY=VALUE, e.g. colour=red")
        found.setdefault(family.strip(), []).extend(values.split(","))
    return check_filters(found)


def print_facets(counts: dict[str, dict[str, int]]) -> None:
    if not counts:
        return
    table = Table(title="facets")
    table.add_column("facet")
    table.add_column("values (count)")
    for family, values in counts.items():
        table.add_row(family, ", ".join(f"{value} ({n})" for value, n in values.items()))
    console.print(table)
