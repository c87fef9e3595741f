"""`darkroom consent`: a visitor's consent for the portraits recipe, recorded or withdrawn."""

from __future__ import annotations

from typing import Annotated

import typer

from darkroom.cli.common import JsonOption, runtime
from darkroom.cli.output import console, fail, json_line
from darkroom.domain.portraits import check_user_id
from darkroom.engine.consent import erase_visitor


def consent(
    user_id: Annotated[str, typer.Argument(help="the visitor's id, as the kiosk knows it")],
    name: Annotated[str | None, typer.Option(help="the visitor's name")] = None,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="withdraw: erase the visitor's pictures")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Record a visitor's consent for the portraits recipe (for DARKROOM_OWNER), or withdraw it."""
    rt = runtime()
    assert rt.portraits is not None
    owner = rt.settings.owner
    try:
        check_user_id(user_id)
    except ValueError as exc:
        fail(str(exc))
    answer = rt.portraits.record_consent(owner, user_id, name, not withdraw, "cli").to_json()
    if withdraw:
        erased = erase_visitor(
            rt.portraits,
            rt.catalog,
            rt.blobs,
            rt.outbox,
            owner,
            user_id,
            (rt.vectors, rt.text),
            rt.detections,
        )
        answer["erased"] = erased.to_json()
    if as_json:
        json_line(answer)
    else:
        console.print(answer)
