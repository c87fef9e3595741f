"""`darkroom keys`: API keys for the HTTP service."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table

from darkroom.cli.common import JsonOption, runtime
from darkroom.cli.output import console, fail, id_column, json_line

app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True)
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="a deployed stack (darkroom-dev): its key table through its keys function, and "
        "the API Gateway key with its usage plan (AWS credentials, no database access)",
    ),
]


@app.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="the owner whose images the key sees")],
    plan: Annotated[
        str | None, typer.Option(help="usage plan (default: DARKROOM_DEFAULT_PLAN)")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="may use the admin routes")] = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
) -> None:
    """Create a key and print it (the only time it is shown)."""
    if stack:
        from darkroom.cli import stack_keys
        from darkroom.settings import Settings

        return stack_keys.create(stack, owner, plan or Settings().default_plan, admin, as_json)
    rt = runtime()
    name = plan or rt.settings.default_plan
    if name not in rt.settings.plans:
        fail(f"unknown plan {name!r}; plans: {', '.join(sorted(rt.settings.plans))}")
    if not OWNER_PATTERN.match(owner):
        fail("owner: letters, digits, '-', '_' and '.', at most 128")
    key, secret = rt.keys.create(owner, name, admin)
    if as_json:
        json_line(
            {"key": secret, "id": key.id, "owner": key.owner, "plan": key.plan, "admin": key.admin}
        )
    else:
        console.print(secret)


@app.command("list")
def keys_list(as_json: JsonOption = False, stack: StackOption = None) -> None:
    """Every key (never the secret)."""
    if stack:
        from darkroom.cli import stack_keys

        return stack_keys.list_keys(stack, as_json)
    rt = runtime()
    keys = rt.keys.list()
    if as_json:
        for key in keys:
            json_line(
                {
                    "id": key.id,
                    "owner": key.owner,
                    "plan": key.plan,
                    "admin": key.admin,
                    "revoked": key.revoked,
                }
            )
        return
    table = Table(title=f"{len(keys)} keys")
    id_column(table, "id", width=12)
    for column in ("owner", "plan", "admin", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            key.id, key.owner, key.plan, "yes" if key.admin else "", "yes" if key.revoked else ""
        )
    console.print(table)


@app.command("revoke")
def keys_revoke(key_id: str, stack: StackOption = None) -> None:
    """Revoke a key by its id (see `keys list`)."""
    if stack:
        from darkroom.cli import stack_keys

        return stack_keys.revoke(stack, key_id)
    rt = runtime()
    if not rt.keys.revoke(key_id):
        fail(f"no active key {key_id!r}", code=1)
    console.print(f"revoked {key_id}")
