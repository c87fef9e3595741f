"""`darkroom search`: images by words or by a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from darkroom.cli.catalogue import parse_facets, print_facets
from darkroom.cli.common import JsonOption, OwnerOption, runtime
from darkroom.cli.output import (
    console,
    data_table,
    fail,
    id_column,
    json_line,
    path_column,
    with_note,
)
from darkroom.domain.errors import Rejected
from darkroom.views import hit_fields, image_record


def search(
    query: Annotated[str | None, typer.Argument(help="words to find")] = None,
    like: Annotated[
        Path | None,
        typer.Option("--like", exists=True, dir_okay=False, help="a picture to find others like"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    min_score: Annotated[
        float | None, typer.Option(help="similarity threshold (default: the embedder's)")
    ] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="only this class")] = None,
    sku: Annotated[str | None, typer.Option(help="only this product (media recipe)")] = None,
    media: Annotated[
        str | None, typer.Option(help="only images or only videos (media recipe)")
    ] = None,
    owner: OwnerOption = None,
    facet: Annotated[
        list[str] | None,
        typer.Option(
            "--facet",
            help="FAMILY=VALUE[,VALUE] (repeatable): AND across families, OR within one",
        ),
    ] = None,
    show_facets: Annotated[
        bool, typer.Option("--facets", help="count each facet's values among the answers")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Find images by words, or by a picture (--like). Best first; nothing when nothing fits.
    A video answers once, with the moment (frame_ms) of its best-matching keyframe."""
    rt = runtime()
    if (query is None) == (like is None):
        fail("give words to find, or --like FILE (one of them)")
    if media not in (None, "image", "video"):
        fail("--media is image or video")
    wanted = {"class_name": class_name, "sku": sku, "media": media}
    filters = {key: value for key, value in wanted.items() if value} or None
    owner = owner or rt.settings.owner
    try:
        facets = parse_facets(facet or [])
        if like is not None:
            faceted = rt.search.like_picture_faceted(
                owner, str(like), facets, limit, min_score, filters
            )
        else:
            assert query is not None
            faceted = rt.search.by_text_faceted(owner, query, facets, limit, min_score, filters)
    except Rejected as exc:
        fail(f"{like}: {exc}")
        return
    except ValueError as exc:
        fail(str(exc))
        return
    hits = faceted.hits
    images = {image.id: image for image in rt.catalog.images_by_ids([h.image_id for h in hits])}
    found = [(hit, images[hit.image_id]) for hit in hits if hit.image_id in images]
    if as_json:
        for hit, image in found:
            json_line(
                {
                    "image_id": hit.image_id,
                    **hit_fields(hit, rt.blobs),
                    **image_record(image, rt.blobs, rt.catalog),
                }
            )
        if show_facets:
            json_line({"facets": faceted.facets})
        return
    if not found:
        console.print("nothing found")
        return
    table = data_table(f"{len(found)} found")
    table.add_column("score", no_wrap=True)
    id_column(table, "image_id")
    table.add_column("class", no_wrap=True)
    table.add_column("at", no_wrap=True)
    path_column(table, "file (location)")
    for hit, image in found:
        table.add_row(
            f"{hit.score:.3f}",
            image.id,
            image.class_name or "",
            f"{hit.frame_ms / 1000:.1f} s" if hit.frame_ms is not None else "",
            with_note(image.filename, image.location, style="dim"),
        )
    console.print(table)
    if show_facets or facets:
        print_facets(faceted.facets)
