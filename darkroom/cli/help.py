"""Help screens that tell the truth about flags.

Typer 0.29's rich help prints a type after every option, `<bool>` for flags too, so
`--json <bool>` reads as if it took a value, and `--json true` then fails. A flag takes none:
show no type for it.
"""

from __future__ import annotations

from typing import Any

import click
from typer.core import TyperOption

_display_type_rich = getattr(TyperOption, "display_type_rich", None)


def _no_type_for_flags(self: TyperOption, ctx: click.Context) -> Any:
    if self.is_flag:
        return None
    assert _display_type_rich is not None
    return _display_type_rich(self, ctx)


def install() -> None:
    if _display_type_rich is not None:  # older Typers print no types at all
        TyperOption.display_type_rich = _no_type_for_flags  # type: ignore[method-assign, assignment]
