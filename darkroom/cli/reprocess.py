"""`darkroom reprocess`: run a recipe, or some of its steps, again over stored images through
the queue (a backfill: re-embed everything an older model made, say)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from darkroom.cli.common import JsonOption, lookup_image, runtime
from darkroom.cli.output import console, fail, json_line
from darkroom.domain.errors import RecipeError
from darkroom.domain.records import Image, ImageStatus
from darkroom.engine import lifecycle
from darkroom.ports import ImageQuery
from darkroom.wiring import Runtime


def selected(
    rt: Runtime, image_ids: Sequence[str], query: ImageQuery, where: dict[str, str]
) -> list[Image]:
    if image_ids:
        looked_up = [lookup_image(rt, image_id) for image_id in image_ids]
        problems = [found for found in looked_up if isinstance(found, str)]
        if problems:
            fail("; ".join(problems), code=1)
        return [
            image
            for image in looked_up
            if isinstance(image, Image)
            and (not where or (image.job_id and _matches(rt, image.job_id, where)))
        ]
    return list(lifecycle.backfill_candidates(rt.catalog, query, where))


def _matches(rt: Runtime, job_id: str, where: dict[str, str]) -> bool:
    return lifecycle.made_by(rt.catalog.step_outputs(job_id), where)


def run(
    rt: Runtime,
    images: list[Image],
    steps: Sequence[str],
    *,
    dry_run: bool,
    as_json: bool,
) -> None:
    outcomes: Counter[tuple[str, str]] = Counter()
    with Progress(
        TextColumn("queueing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=as_json or not images,
    ) as progress:
        task = progress.add_task("queue", total=len(images))
        for image in images:
            result, detail = _one(rt, image, steps, dry_run)
            outcomes[result, detail.get("reason", "")] += 1
            if as_json:
                json_line({"image_id": image.id, "result": result, **detail})
            progress.advance(task)
    if as_json:
        return
    table = Table(title="reprocess" + (" (dry run: nothing queued)" if dry_run else ""))
    for column in ("result", "images", "reason"):
        table.add_column(column)
    for (result, reason), count in sorted(outcomes.items()):
        table.add_row(result, str(count), reason)
    console.print(table if outcomes else "no image matches")


def _one(
    rt: Runtime, image: Image, steps: Sequence[str], dry_run: bool
) -> tuple[str, dict[str, str]]:
    if dry_run:
        return "would queue", {}
    try:
        updated = lifecycle.reprocess(rt.catalog, rt.queue, rt.recipes, image, steps=steps)
    except (lifecycle.Conflict, RecipeError) as exc:
        return "skipped", {"reason": str(exc)}
    return "queued", {"job_id": updated.job_id or ""}


def reprocess(
    image_ids: Annotated[
        list[str] | None, typer.Argument(help="these images (ids, or unique beginnings of ids)")
    ] = None,
    step: Annotated[
        list[str] | None, typer.Option(help="run only this step again (and what needs it)")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="STEP.FIELD=VALUE from stored results, e.g. embed.model=descriptor"),
    ] = None,
    recipe: Annotated[str | None, typer.Option(help="only images of this recipe")] = None,
    status: Annotated[ImageStatus | None, typer.Option(help="only this status")] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="only this class")] = None,
    every: Annotated[bool, typer.Option("--all", help="every image of the owner")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, queue nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a recipe, or some of its steps, again over stored images, through the queue.

    A running worker does the work. A backfill: `--step embed --where embed.version=1`."""
    try:
        provenance = lifecycle.parse_where(where or [])
    except ValueError as exc:
        fail(str(exc))
    if not (image_ids or every or provenance or recipe or status or class_name):
        fail("name images, a filter (--where, --recipe, --status, --class), or --all")
    rt = runtime()
    if recipe is not None:
        try:
            rt.recipes.get(recipe)
        except RecipeError as exc:
            fail(str(exc))
    query = ImageQuery(owner=rt.settings.owner, status=status, class_name=class_name, recipe=recipe)
    found = selected(rt, image_ids or [], query, provenance)
    run(rt, found, step or [], dry_run=dry_run, as_json=as_json)
