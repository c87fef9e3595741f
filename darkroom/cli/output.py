"""How the CLI prints: Rich tables for people, one JSON object per line for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console()
err = Console(stderr=True)


def json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> None:
    import typer

    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, for logs and greps
    raise typer.Exit(code)
