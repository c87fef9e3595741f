"""`darkroom recipes`: list, show and compile recipes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from darkroom.cli.common import JsonOption, runtime
from darkroom.cli.output import console, fail, json_line
from darkroom.domain.errors import RecipeError
from darkroom.settings import Settings

app = typer.Typer(help="Recipes: pipelines written as data.", no_args_is_help=True)


@app.command("list")
def recipes_list(as_json: JsonOption = False) -> None:
    """Every recipe, built-in and your own."""
    rt = runtime()
    if as_json:
        for compiled in rt.recipes.all():
            json_line(
                {
                    "name": compiled.name,
                    "description": compiled.recipe.description,
                    "steps": [step.name for step in compiled.steps],
                    "source": compiled.source,
                }
            )
        return
    table = Table(title="recipes")
    for column in ("name", "steps", "description"):
        table.add_column(column)
    for compiled in rt.recipes.all():
        table.add_row(
            compiled.name, " -> ".join(s.name for s in compiled.steps), compiled.recipe.description
        )
    console.print(table)


@app.command("show")
def recipes_show(name: str, as_json: JsonOption = False) -> None:
    """A recipe with every setting filled in."""
    rt = runtime()
    try:
        compiled = rt.recipes.get(name)
    except RecipeError as exc:
        fail(str(exc))
        return
    data: dict[str, Any] = compiled.recipe.model_dump(mode="json", by_alias=True, exclude={"steps"})
    data["steps"] = [
        {
            "step": step.spec.step,
            "name": step.name,
            "with": step.settings.model_dump(mode="json"),
            "retry": step.retry.model_dump(mode="json"),
        }
        for step in compiled.steps
    ]
    if as_json:
        json_line(data)
    else:
        # Machine-readable: never through Rich, which wraps long lines when redirected.
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))


@app.command("asl")
def recipes_asl(
    name: str,
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="write here, not to stdout")
    ] = None,
) -> None:
    """The recipe as an AWS Step Functions state machine (Amazon States Language JSON)."""
    from darkroom.engine.asl import compile_asl, to_json
    from darkroom.engine.recipes import RecipeBook

    try:
        text = to_json(compile_asl(RecipeBook(Settings().recipes_dir).get(name)))
    except RecipeError as exc:
        fail(str(exc))
        return
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
