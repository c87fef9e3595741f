"""What every command shares: the runtime it works on and the --json flag."""

from __future__ import annotations

from typing import Annotated

import typer

from darkroom import logs
from darkroom.cli.output import fail
from darkroom.domain.errors import RecipeError
from darkroom.settings import Settings
from darkroom.wiring import Runtime, SettingsError, build

JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object per line, for scripts")]


def runtime() -> Runtime:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    try:
        return build(settings)
    except (SettingsError, RecipeError) as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
