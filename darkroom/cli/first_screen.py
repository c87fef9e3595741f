"""What `darkroom serve` says once it listens: a screen for a person on a terminal (where the
API, the docs and the logs are, and the admin key on first start), a log line always."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import uvicorn

from darkroom import __version__
from darkroom.cli.output import console
from darkroom.settings import Settings

log = logging.getLogger("darkroom.serve")


class FirstScreen:
    """The first screen and the ready line."""

    def __init__(
        self, settings: Settings, workers: int, log_file: str, admin_secret: str | None
    ) -> None:
        self.settings, self.workers, self.log_file = settings, workers, log_file
        self.admin_secret = admin_secret

    def show(self, url: str) -> None:
        log.info(
            "darkroom serve ready",
            extra={"url": url, "ui": f"{url}/ui", "docs": f"{url}/docs", "workers": self.workers},
        )
        if not console.is_terminal:
            return
        rows = [
            ("web UI", f"{url}/ui  (sign in with an API key)"),
            ("API", url),
            ("docs", f"{url}/docs  (ReDoc: {url}/redoc)"),
            ("health", f"{url}/health   metrics: {url}/metrics"),
            ("workers", f"{self.workers} worker processes, default recipe {self.settings.recipe}"),
            ("data", str(self.settings.home)),
            ("logs", f"{self.log_file} (JSON)"),
        ]
        console.print(f"\n[bold]darkroom {__version__}[/] is listening\n", highlight=False)
        for name, value in rows:
            console.print(f"  {name:<8} {value}", highlight=False, soft_wrap=True)
        if self.admin_secret is not None:
            console.print(
                f"\n  [bold]First start: an admin key for owner {self.settings.owner!r}. "
                "It is shown only now:[/]\n",
                soft_wrap=True,
            )
            console.print(f"    {self.admin_secret}", highlight=False, soft_wrap=True)
        console.print("\n  Ctrl-C stops the API and its workers.\n")


def _url(config: uvicorn.Config, server: uvicorn.Server) -> str:
    host = config.host
    port = config.port
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            port = sock.getsockname()[1]
            break
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, telling `announce` its URL once it listens (not before: a port in use
    must not be announced)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.announce(_url(self.config, self))
