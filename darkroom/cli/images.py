"""`darkroom images`: list, show and find duplicates of stored images."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from darkroom.cli.common import JsonOption, find_image, runtime
from darkroom.cli.output import (
    console,
    data_table,
    id_column,
    json_line,
    path_column,
    with_note,
)
from darkroom.domain.records import ImageStatus
from darkroom.ports import ImageQuery
from darkroom.views import image_record

app = typer.Typer(help="Look at what darkroom has.", no_args_is_help=True)
ImageId = Annotated[str, typer.Argument(help="an image id, or a unique beginning of one")]


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
    table = data_table(f"{len(found)} images")
    wide = console.width >= 100  # room for the picture's size too
    id_column(table, "image_id")
    for column in ("status", "class", "conf") + (("size",) if wide else ()):
        table.add_column(column, no_wrap=True)
    path_column(table, "file (error)")
    for image in found:
        size = (f"{image.width}x{image.height}" if image.width else "",) if wide else ()
        table.add_row(
            image.id,
            image.status.value,
            (image.class_name or "") + (" ?" if image.uncertain else ""),
            f"{image.confidence:.1f}" if image.confidence is not None else "",
            *size,
            with_note(image.filename, image.error),
        )
    console.print(table)


@app.command("show")
def images_show(image_id: ImageId, as_json: JsonOption = False) -> None:
    """One image: its record, step results and detection record."""
    rt = runtime()
    image = find_image(rt, image_id)
    record = image_record(image, rt.blobs, rt.catalog)
    record["steps"] = rt.catalog.step_outputs(image.job_id) if image.job_id else {}
    record["detection_records"] = [r.to_json() for r in rt.detections.detection_records(image.id)]
    latest = rt.catalog.latest_analysis(image.id)
    record["analysis"] = latest.to_json() if latest is not None else None
    if as_json:
        json_line(record)
        return
    table = Table(show_header=False, title=f"image {image.id}")
    table.add_column("field", no_wrap=True)
    path_column(table, "value")
    for key, value in record.items():
        shown = json.dumps(value, indent=1) if isinstance(value, dict | list) else str(value)
        table.add_row(key, Text(shown))
    console.print(table)


@app.command("duplicates")
def images_duplicates(image_id: ImageId, as_json: JsonOption = False) -> None:
    """Exact copies (same bytes), near copies (resized, recompressed) and look-alikes, apart."""
    from darkroom.engine.duplicates import find_duplicates

    rt = runtime()
    image = find_image(rt, image_id)
    found = find_duplicates(rt.catalog, rt.search, image)
    rows = [("exact", other, "same bytes") for other in found.exact]
    rows += [("near", other, f"{bits} bits of 64 differ") for other, bits in found.near]
    rows += [("semantic", other, f"similarity {score:.3f}") for other, score in found.semantic]
    if as_json:
        for tier, other, why in rows:
            json_line({"tier": tier, "image_id": other, "why": why})
        return
    table = data_table(f"duplicates of {image.id}")
    table.add_column("tier")
    id_column(table, "image_id")
    table.add_column("why")
    for row in rows:
        table.add_row(*row)
    console.print(table if rows else "no duplicates")
