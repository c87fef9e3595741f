"""What every command shares: the runtime it works on, the --json flag, ids as people type them."""

from __future__ import annotations

from typing import Annotated

import typer

from darkroom import logs
from darkroom.cli.output import fail
from darkroom.domain.errors import RecipeError
from darkroom.domain.records import Image
from darkroom.settings import Settings
from darkroom.wiring import Runtime, SettingsError, build

OwnerOption = Annotated[
    str | None, typer.Option(help="the owner (a media library's client); default DARKROOM_OWNER")
]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object per line, for scripts")]


def runtime() -> Runtime:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    try:
        return build(settings)
    except (SettingsError, RecipeError) as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


MIN_PREFIX = 4  # as git: shorter prefixes are too likely to mean many things
SHOWN_CHOICES = 5


def typed_id(ident: str) -> str:
    """An id as pasted from a table: a trailing ellipsis (a cut column) is not part of it."""
    return ident.strip().rstrip("…").rstrip(".")


def lookup_image(rt: Runtime, ident: str) -> Image | str:
    """The owner's image with this id, or the only one whose id begins with it; else why not."""
    ident = typed_id(ident)
    owner = rt.settings.owner
    image = rt.catalog.get_image(ident, owner)
    if image is not None:
        return image
    if len(ident) >= MIN_PREFIX:
        ids = rt.catalog.image_ids_starting(owner, ident, SHOWN_CHOICES + 1)
        if len(ids) == 1:
            found = rt.catalog.get_image(ids[0], owner)
            if found is not None:
                return found
        if len(ids) > 1:
            return ambiguous(ident, "images", ids)
    return f"no image {ident!r} for owner {owner!r}"


def ambiguous(ident: str, kind: str, ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN_CHOICES]) + (", ..." if len(ids) > SHOWN_CHOICES else "")
    return f"{ident!r} is ambiguous: it begins the ids of several {kind} ({shown}); type more of it"


def find_image(rt: Runtime, ident: str) -> Image:
    found = lookup_image(rt, ident)
    if isinstance(found, str):
        fail(found, code=1)
        raise AssertionError  # unreachable: fail() exits
    return found


def check_recipe_can_run(rt: Runtime, name: str) -> None:
    """Exit with every unmet need of the recipe (an API key...) before any picture is taken."""
    from rich.markup import escape

    from darkroom.engine.preflight import explain, unmet_needs

    try:
        compiled = rt.recipes.get(name)
    except RecipeError as exc:
        fail(escape(str(exc)))
        return
    problems = unmet_needs(compiled, rt.providers)
    if problems:
        fail(escape(explain(name, problems)))
