"""Templates (Jinja2, autoescaped) and what every page is given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from darkroom import __version__
from darkroom.web.auth import Visitor

env = Environment(
    loader=PackageLoader("darkroom.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


env.filters["when"] = _when
env.filters["percent"] = _percent


def page(
    request: Request,
    template: str,
    visitor: Visitor | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = env.get_template(template).render(
        request=request,
        visitor=visitor,
        csrf=visitor.session.csrf if visitor else "",
        version=__version__,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
