"""Help screens and --version: what they say is what the commands take."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.testing import CliRunner

from darkroom import __version__
from darkroom.cli.main import app

runner = CliRunner()


def help_words(*args: str) -> str:
    """The help screen as words, without the boxes and the line breaks Rich adds."""
    output = runner.invoke(app, [*args, "--help"]).output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def every_command() -> list[list[str]]:
    root = typer.main.get_command(app)
    found: list[list[str]] = [[]]

    def walk(group: Any, path: list[str]) -> None:
        for name, command in group.commands.items():
            found.append([*path, name])
            if hasattr(command, "commands"):  # a group (Typer brings its own click)
                walk(command, [*path, name])

    walk(root, [])
    return found


def test_no_flag_is_shown_as_taking_a_value() -> None:
    commands = every_command()
    assert ["images", "list"] in commands and ["deploy", "synth"] in commands
    for path in commands:
        shown = runner.invoke(app, [*path, "--help"])
        assert shown.exit_code == 0, path
        assert "<bool>" not in shown.output, path
        assert "--help" in shown.output


def test_json_flag_takes_no_value() -> None:
    help_text = runner.invoke(app, ["keys", "list", "--help"]).output
    line = next(line for line in help_text.splitlines() if "--json" in line)
    assert "<" not in line  # nothing to put after it


def test_version() -> None:
    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.output.strip() == f"darkroom {__version__}"


def test_concurrency_options_say_what_they_mean() -> None:
    ingest = help_words("ingest")
    assert "one per core unless given" in ingest
    assert "[default: " not in ingest.split("--concurrency")[1].split("--json")[0]  # no "2"
    worker = help_words("worker")
    assert "worker processes, each running its own jobs" in worker
