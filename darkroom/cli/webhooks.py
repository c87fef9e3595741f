"""`darkroom webhooks`: an owner's subscriptions, their deliveries, replays, and the event types
they can name. Subscribing stays with the HTTP API, which checks the URL where it is made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from darkroom.cli.common import runtime
from darkroom.cli.output import console, fail, json_line
from darkroom.engine.event_types import EVENT_TYPES, known_event_types
from darkroom.wiring import Runtime

webhooks_app = typer.Typer(
    help="Webhooks: subscriptions (of DARKROOM_OWNER), deliveries, replays.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object per line, for scripts")]


def _runtime() -> Runtime:
    return runtime()


def _iso(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else ""


def _owned(rt: Runtime, hook: str) -> None:
    if hook not in {s.id for s in rt.webhooks.subscriptions(rt.settings.owner)}:
        fail(f"no webhook {hook!r} for owner {rt.settings.owner!r}", code=1)


@webhooks_app.command("list")
def list_hooks(as_json: JsonOption = False) -> None:
    """The owner's subscriptions."""
    rt = _runtime()
    found = rt.webhooks.subscriptions(rt.settings.owner)
    if as_json:
        for s in found:
            json_line(
                {
                    "id": s.id,
                    "url": s.url,
                    "detail_types": s.detail_types,
                    "created_at": _iso(s.created_at),
                }
            )
        return
    table = Table(title=f"webhooks of {rt.settings.owner}")
    for column in ("id", "url", "event types", "created"):
        table.add_column(column, overflow="fold")
    for s in found:
        table.add_row(s.id, s.url, ", ".join(s.detail_types) or "(every type)", _iso(s.created_at))
    console.print(table)


@webhooks_app.command("deliveries")
def deliveries(
    hook: Annotated[str, typer.Argument(help="webhook id")],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """A subscription's deliveries, newest first."""
    rt = _runtime()
    _owned(rt, hook)
    rows = rt.webhooks.deliveries(limit, subscription_id=hook)
    fields = ("id", "detail_type", "state", "attempts", "last_status", "last_error")
    if as_json:
        for row in rows:
            json_line({**{k: row[k] for k in fields}, "created_at": _iso(row["created_at"])})
        return
    table = Table(title=f"deliveries of {hook}")
    for column in (*fields, "created"):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = ("" if row[k] is None else str(row[k]) for k in fields)
        table.add_row(*cells, _iso(row["created_at"]))
    console.print(table)


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {value!r} is not an ISO 8601 time (2026-11-01T00:00:00Z)")
        raise
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@webhooks_app.command("replay")
def replay(
    hook: Annotated[str, typer.Argument(help="webhook id")],
    since: Annotated[
        str | None, typer.Option(help="deliveries created at or after this ISO 8601 time")
    ] = None,
    failed_only: Annotated[
        bool, typer.Option("--failed-only", help="only the deliveries that failed")
    ] = False,
    delivery: Annotated[str | None, typer.Option(help="just this delivery")] = None,
) -> None:
    """Send deliveries again: every one since a time (whatever its state), only the failed
    ones, or one; a running worker sends them."""
    rt = _runtime()
    _owned(rt, hook)
    if delivery is not None and (since is not None or failed_only):
        fail("--delivery names one delivery: no --since or --failed-only with it")
    count = rt.webhooks.replay(
        hook, delivery_id=delivery, since=_since(since), failed_only=failed_only
    )
    if delivery is not None and not count:
        fail(f"no delivery {delivery!r} for webhook {hook}", code=1)
    console.print(f"replayed {count} deliveries")


@webhooks_app.command("events")
def events(as_json: JsonOption = False) -> None:
    """Every event type a subscription can name, with what its detail holds."""
    rt = _runtime()
    rows: list[dict[str, Any]] = [
        {"type": name, "detail": EVENT_TYPES.get(name, "announced by a recipe's own step")}
        for name in known_event_types(rt.recipes.all())
    ]
    if as_json:
        for row in rows:
            json_line(row)
        return
    table = Table(title="event types")
    table.add_column("type", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for row in rows:
        table.add_row(row["type"], row["detail"])
    console.print(table)
