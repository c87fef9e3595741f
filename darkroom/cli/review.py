"""`darkroom review list|decide|undo|tune`: the review loop from a terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from darkroom.cli.common import runtime
from darkroom.cli.output import console, fail, json_line
from darkroom.domain.errors import RecipeError
from darkroom.engine.lifecycle import Conflict
from darkroom.engine.review import review_queue
from darkroom.engine.tuning import Tuning, tune
from darkroom.views import image_record
from darkroom.wiring import Runtime

review_app = typer.Typer(
    help="Review uncertain results; tune thresholds from the decisions.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object per line, for scripts")]
CLI_KEY = "cli"  # the provenance of a decision made here: no API key, the machine's owner


def _runtime() -> Runtime:
    return runtime()


@review_app.command("list")
def review_list(
    recipe: Annotated[str | None, typer.Option(help="only this recipe")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Uncertain images of the CLI's owner, oldest first."""
    rt = _runtime()
    found = review_queue(rt.catalog, rt.settings.owner, recipe, limit)
    if as_json:
        for image in found:
            json_line(image_record(image, rt.blobs, rt.catalog))
        return
    table = Table(title=f"{len(found)} to review")
    for column in ("image_id", "file", "recipe", "model says", "confidence"):
        table.add_column(column)
    for image in found:
        table.add_row(
            image.id,
            image.filename,
            image.recipe,
            image.class_name or "",
            f"{image.confidence:.1f}" if image.confidence is not None else "",
        )
    console.print(table)


@review_app.command("decide")
def review_decide(
    image_id: str,
    class_name: Annotated[str, typer.Argument(metavar="CLASS", help="the right class")],
    as_json: JsonOption = False,
) -> None:
    """Set an image's class as a person decided it; it is re-filed and kept on reprocess."""
    rt = _runtime()
    image = rt.catalog.get_image(image_id, rt.settings.owner)
    if image is None:
        fail(f"no image {image_id!r}", code=1)
        return
    try:
        review = rt.reviewer.decide(image, class_name, CLI_KEY)
    except (Conflict, ValueError) as exc:
        fail(str(exc))
        return
    if as_json:
        json_line(review.to_json())
    else:
        console.print(f"{image_id}: {review.model_class} -> [bold]{review.class_name}[/]")


@review_app.command("undo")
def review_undo(as_json: JsonOption = False) -> None:
    """Take back the last decision made from this CLI."""
    rt = _runtime()
    review = rt.reviewer.undo_last(rt.settings.owner, CLI_KEY)
    if review is None:
        fail("no decision to undo", code=1)
        return
    if as_json:
        json_line(review.to_json())
    else:
        console.print(f"{review.image_id}: back to {review.model_class}")


@review_app.command("tune")
def review_tune(
    recipe: Annotated[str, typer.Option(help="the recipe whose thresholds to tune")] = "pets",
    target_precision: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="how often a confident class must be right")
    ] = 0.95,
    min_decisions: Annotated[
        int, typer.Option(min=1, help="decisions per class needed before proposing anything")
    ] = 20,
    write: Annotated[
        Path | None, typer.Option(help="write the recipe override into this folder")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Thresholds (high, low) per class that would have met the target precision on the
    reviewed images of every owner, with precision, recall and the share left uncertain."""
    rt = _runtime()
    try:
        compiled = rt.recipes.get(recipe)
        result = tune(compiled, rt.reviews.decisions(recipe), target_precision, min_decisions)
    except (RecipeError, ValueError) as exc:
        fail(str(exc))
        return
    written = None
    if write is not None and result.override is not None:
        write.mkdir(parents=True, exist_ok=True)
        written = write / f"{recipe}.yaml"
        written.write_text(yaml.safe_dump(result.override, sort_keys=False))
    if as_json:
        json_line({**result.to_json(), "written": str(written) if written else None})
    else:
        _print(result, written)
    if not result.ready:
        raise typer.Exit(1)


def _print(result: Tuning, written: Path | None) -> None:
    console.print(
        f"recipe {result.recipe}: {result.decisions} decisions, "
        f"target precision {result.target_precision:g}"
    )
    for c in result.classes:
        if c.needs_more:
            console.print(
                f"[yellow]{c.name}[/]: {c.decisions} decisions where the model said it; "
                f"needs {c.needs_more} more"
            )
            continue
        console.print(
            f"[bold]{c.name}[/]: high {c.high:g}, low {c.low:g} "
            f"(precision {c.precision if c.precision is not None else '-'}, "
            f"{c.decisions} decisions)"
        )
        table = Table("threshold", "precision", "recall", "left uncertain")
        for row in c.table:
            table.add_row(
                f"{row.threshold:g}",
                "-" if row.precision is None else f"{row.precision:.3f}",
                f"{row.recall:.3f}",
                f"{row.uncertain:.3f}",
            )
        console.print(table)
    if result.override is None:
        console.print("no class has enough decisions yet: nothing to write")
    elif written is not None:
        console.print(f"wrote {written} (set DARKROOM_RECIPES_DIR to its folder)")
    else:
        sys.stdout.write(yaml.safe_dump(result.override, sort_keys=False))
