"""`darkroom keys ... --stack NAME`: the keys of a deployed stack (darkroom/adapters/aws)."""

from __future__ import annotations

from rich.table import Table

from darkroom.cli.output import console, fail, json_line


def _keys(stack: str):  # type: ignore[no-untyped-def]
    try:
        from darkroom.adapters.aws.stack_keys import StackKeys
    except ImportError as exc:  # boto3 missing
        fail(f"{exc.name} is not installed: `pip install 'darkroom[aws]'`")
    return StackKeys(stack)


def create(stack: str, owner: str, plan: str, admin: bool, as_json: bool) -> None:
    from darkroom.adapters.aws.stack_keys import StackKeysError

    try:
        made = _keys(stack).create(owner, plan, admin)
    except StackKeysError as exc:
        fail(str(exc), code=1)
    if as_json:
        json_line(
            {
                "key": made["secret"],
                "id": made["id"],
                "owner": made["owner"],
                "plan": made["plan"],
                "admin": made["admin"],
                "gateway_key_id": made["gateway_key_id"],
            }
        )
    else:
        console.print(made["secret"])


def list_keys(stack: str, as_json: bool) -> None:
    from darkroom.adapters.aws.stack_keys import StackKeysError

    try:
        keys = _keys(stack).list()
    except StackKeysError as exc:
        fail(str(exc), code=1)
    if as_json:
        for key in keys:
            json_line(
                {k: key[k] for k in ("id", "owner", "plan", "admin", "revoked", "in_gateway")}
            )
        return
    table = Table(title=f"{len(keys)} keys of {stack}")
    for column in ("id", "owner", "plan", "admin", "revoked", "in API Gateway"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            key["id"],
            key["owner"],
            key["plan"],
            "yes" if key["admin"] else "",
            "yes" if key["revoked"] else "",
            "yes" if key["in_gateway"] else "",
        )
    console.print(table)


def revoke(stack: str, key_id: str) -> None:
    from darkroom.adapters.aws.stack_keys import StackKeysError

    try:
        revoked = _keys(stack).revoke(key_id)
    except StackKeysError as exc:
        fail(str(exc), code=1)
    if not revoked:
        fail(f"no active key {key_id!r} in {stack}", code=1)
    console.print(f"revoked {key_id}")
