"""`darkroom images`: list, show and find duplicates of stored images."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from darkroom.cli.common import JsonOption, runtime
from darkroom.cli.output import console, fail, json_line
from darkroom.domain.records import ImageStatus
from darkroom.ports import ImageQuery
from darkroom.views import image_record

app = typer.Typer(help="Look at what darkroom has.", no_args_is_help=True)


@app.command("list")
def images_list(
    status: Annotated[ImageStatus | None, typer.Option(help="only this status")] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="only this class")] = None,
    uncertain: Annotated[
        bool | None, typer.Option("--uncertain/--certain", help="by review need")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Images of the CLI's owner, oldest first."""
    rt = runtime()
    query = ImageQuery(
        owner=rt.settings.owner,
        status=status,
        class_name=class_name,
        uncertain=uncertain,
        limit=limit,
    )
    found = rt.catalog.list_images(query)
    if as_json:
        for image in found:
            json_line(image_record(image, rt.blobs, rt.catalog))
        return
    table = Table(title=f"{len(found)} images")
    for column in ("image_id", "file", "status", "class", "confidence", "size", "error"):
        table.add_column(column)
    for image in found:
        table.add_row(
            image.id,
            image.filename,
            image.status.value,
            (image.class_name or "") + (" ?" if image.uncertain else ""),
            f"{image.confidence:.1f}" if image.confidence is not None else "",
            f"{image.width}x{image.height}" if image.width else "",
            image.error or "",
        )
    console.print(table)


@app.command("show")
def images_show(image_id: str, as_json: JsonOption = False) -> None:
    """One image: its record, step results and detection record."""
    rt = runtime()
    image = rt.catalog.get_image(image_id, rt.settings.owner)
    if image is None:
        fail(f"no image {image_id!r}", code=1)
        return
    record = image_record(image, rt.blobs, rt.catalog)
    record["steps"] = rt.catalog.step_outputs(image.job_id) if image.job_id else {}
    record["detection_records"] = [r.to_json() for r in rt.detections.detection_records(image.id)]
    latest = rt.catalog.latest_analysis(image.id)
    record["analysis"] = latest.to_json() if latest is not None else None
    if as_json:
        json_line(record)
        return
    table = Table(show_header=False, title=f"image {image.id}")
    for key, value in record.items():
        shown = json.dumps(value, indent=1) if isinstance(value, dict | list) else str(value)
        table.add_row(key, shown)
    console.print(table)


@app.command("duplicates")
def images_duplicates(image_id: str, as_json: JsonOption = False) -> None:
    """Exact copies (same bytes), near copies (resized, recompressed) and look-alikes, apart."""
    from darkroom.engine.duplicates import find_duplicates

    rt = runtime()
    image = rt.catalog.get_image(image_id, rt.settings.owner)
    if image is None:
        fail(f"no image {image_id!r}", code=1)
        return
    found = find_duplicates(rt.catalog, rt.search, image)
    rows = [("exact", other, "same bytes") for other in found.exact]
    rows += [("near", other, f"{bits} bits of 64 differ") for other, bits in found.near]
    rows += [("semantic", other, f"similarity {score:.3f}") for other, score in found.semantic]
    if as_json:
        for tier, other, why in rows:
            json_line({"tier": tier, "image_id": other, "why": why})
        return
    table = Table(title=f"duplicates of {image_id}")
    for column in ("tier", "image_id", "why"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table if rows else "no duplicates")
