"""`darkroom worker` and `darkroom serve`: the long-running processes."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from darkroom import logs
from darkroom.cli.common import check_recipe_can_run, runtime
from darkroom.cli.ingest import default_concurrency
from darkroom.cli.output import console
from darkroom.engine.worker import WorkerPool
from darkroom.settings import Settings

if TYPE_CHECKING:
    from darkroom.wiring import Runtime


def service_logging(settings: Settings) -> str:
    """Log this process, and set up its workers the same way, to stderr (text on a terminal,
    else JSON) and, as JSON, to DARKROOM_HOME/logs/darkroom.log. Answer the file's path."""
    path = str(settings.home / "logs" / "darkroom.log")
    logs.configure(settings.log_level, settings.log_format, tee=path)
    return path


def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-c", min=1, help="worker processes, each running its own jobs"
        ),
    ] = 1,
) -> None:
    """Consume the queue until stopped (Ctrl-C or SIGTERM)."""
    rt = runtime()
    rt.close()
    settings = rt.settings
    log_file = service_logging(settings)
    if concurrency == 1:
        from darkroom.engine.worker import work

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            work(settings, stop)
        except KeyboardInterrupt:
            stop.set()
        return
    setup = logs.for_processes(settings.log_level, settings.log_format, log_file)
    pool = WorkerPool(settings, concurrency, setup).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5) and pool.alive():
            pass
    except KeyboardInterrupt:
        pass
    finally:
        pool.close()


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=0,
            help="embedded worker processes (0: API only; one per core unless given)",
            show_default=False,
        ),
    ] = default_concurrency(),
) -> None:
    """Run the HTTP API and embedded workers in one command. OpenAPI docs at /docs."""
    import uvicorn

    from darkroom import metrics
    from darkroom.api.app import create_app
    from darkroom.api.serving import uvicorn_options
    from darkroom.cli.first_screen import AnnouncingServer, FirstScreen

    rt = runtime()
    settings = rt.settings
    check_recipe_can_run(rt, settings.recipe)  # the recipe uploads get when they name none
    log_file = service_logging(settings)
    admin_secret = _first_admin_key(rt)
    metrics.prepare_multiprocess(settings.home)
    setup = logs.for_processes(settings.log_level, settings.log_format, log_file)
    pool = (
        WorkerPool(settings, workers, setup, nice=settings.worker_nice).start() if workers else None
    )
    config = uvicorn.Config(
        create_app(rt),
        host=host or settings.host,
        port=settings.port if port is None else port,
        **uvicorn_options(settings),
    )
    screen = FirstScreen(settings, workers, log_file, admin_secret)
    try:
        AnnouncingServer(config, screen.show).run()
    finally:
        if pool is not None:
            pool.close()
        rt.close()


def _first_admin_key(rt: Runtime) -> str | None:
    if rt.keys.list():
        return None
    key, secret = rt.keys.create(rt.settings.owner, "unlimited", admin=True)
    if not console.is_terminal:  # a plain line a script can read; the terminal gets the screen
        typer.echo(f"first start: admin key for owner {key.owner!r} (shown only now): {secret}")
    return secret
