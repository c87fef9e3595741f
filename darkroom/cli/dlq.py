"""`darkroom dlq`: jobs that failed every attempt, and putting them back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from darkroom.cli.common import JsonOption, ambiguous, runtime, typed_id
from darkroom.cli.output import console, data_table, fail, id_column, json_line, path_column
from darkroom.engine import dlq as dead_letters

app = typer.Typer(
    help="The dead-letter queue: jobs that failed every attempt.", no_args_is_help=True
)


@app.command("list")
def dlq_list(as_json: JsonOption = False) -> None:
    """Jobs that failed every attempt, with their error."""
    rt = runtime()
    letters = rt.queue.dead_letters(limit=100_000)
    if as_json:
        for letter in letters:
            json_line(
                {
                    "job_id": letter.job.id,
                    "image_id": letter.job.image_id,
                    "recipe": letter.job.recipe,
                    "attempts": letter.attempts,
                    "error": letter.error,
                    "traceback": letter.traceback,
                    "failed_at": letter.failed_at.isoformat(),
                }
            )
        return
    table = data_table(f"{len(letters)} dead letters")
    id_column(table, "image_id")
    for column in ("recipe", "attempts", "failed at"):
        table.add_column(column, no_wrap=True)
    path_column(table, "error")
    for letter in letters:
        table.add_row(
            letter.job.image_id,
            letter.job.recipe,
            str(letter.attempts),
            letter.failed_at.strftime("%Y-%m-%d %H:%M"),
            Text(letter.error),
        )
    console.print(table)


@app.command("replay")
def dlq_replay(
    ident: Annotated[
        str | None, typer.Argument(help="image id or job id, or a unique beginning of one")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="replay every dead letter")] = False,
) -> None:
    """Put dead-lettered jobs back on the queue (a running worker picks them up)."""
    rt = runtime()
    if replay_all == (ident is not None):
        fail("name one image id or job id, or --all")
    if replay_all:
        console.print(f"replayed {dead_letters.replay_all(rt.catalog, rt.queue)} jobs")
        return
    assert ident is not None
    ident = typed_id(ident)
    found = dead_letters.find_by_prefix(rt.queue, ident) if ident else []
    if len(found) > 1:
        fail(ambiguous(ident, "dead letters", [letter.job.id for letter in found]), code=1)
    if not found or not dead_letters.replay(rt.catalog, rt.queue, found[0]):
        fail(f"no dead letter for {ident!r}", code=1)
    console.print(f"replayed {found[0].job.image_id} (job {found[0].job.id})")
