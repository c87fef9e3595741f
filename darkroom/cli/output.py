"""How the CLI prints: Rich tables for people, one JSON object per line for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err = Console(stderr=True)


def json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> None:
    import typer

    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, for logs and greps
    raise typer.Exit(code)


def id_column(table: Table, name: str, width: int = 32) -> None:
    """A column of ids, never cut at any terminal width: a cut id is no id (other columns
    fold instead)."""
    table.add_column(name, no_wrap=True, min_width=width)


def path_column(table: Table, name: str) -> None:
    """File names, locations, errors: folded onto more lines, never cut with an ellipsis."""
    table.add_column(name, overflow="fold")


def data_table(title: str) -> Table:
    """A table of records with long ids: no vertical rules and one space between columns, so a
    whole id and the rest still fit 80 columns."""
    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))


def with_note(text: str, note: str | None, style: str = "yellow") -> Text:
    """A cell of user text (never read as Rich markup) with a note on the next line."""
    cell = Text(text)
    if note:
        cell.append("\n" + note, style=style)
    return cell
