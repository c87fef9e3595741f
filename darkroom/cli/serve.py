"""`darkroom worker` and `darkroom serve`: the long-running processes."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from darkroom.cli.common import runtime
from darkroom.cli.ingest import default_concurrency
from darkroom.cli.output import console
from darkroom.engine.worker import WorkerPool


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 1,
) -> None:
    """Consume the queue until stopped (Ctrl-C or SIGTERM)."""
    rt = runtime()
    rt.close()
    settings = rt.settings
    if concurrency == 1:
        from darkroom.engine.worker import work

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            work(settings, stop)
        except KeyboardInterrupt:
            stop.set()
        return
    pool = WorkerPool(settings, concurrency).start()
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
        int, typer.Option("--workers", "-w", min=0, help="embedded worker processes (0: API only)")
    ] = default_concurrency(),
) -> None:
    """Run the HTTP API and embedded workers in one command. OpenAPI docs at /docs."""
    import uvicorn

    from darkroom import metrics
    from darkroom.api.app import create_app

    rt = runtime()
    settings = rt.settings
    if not rt.keys.list():
        key, secret = rt.keys.create(settings.owner, "unlimited", admin=True)
        console.print(
            f"[bold]First start: created an admin key for owner {key.owner!r}. "
            f"It is shown only now:[/]\n\n    {secret}\n"
        )
    metrics.prepare_multiprocess(settings.home)
    pool = WorkerPool(settings, workers, nice=settings.worker_nice).start() if workers else None
    try:
        uvicorn.run(
            create_app(rt),
            host=host or settings.host,
            port=settings.port if port is None else port,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    finally:
        if pool is not None:
            pool.close()
        rt.close()
