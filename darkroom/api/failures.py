"""What the API answers when the world, not the request, is the problem: a full disk (507, and
nothing kept), a concurrent duplicate request (409, try again), a client that went away."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.requests import ClientDisconnect

from darkroom.domain.errors import InProgress, StorageFull, is_storage_full

log = logging.getLogger("darkroom.api")


def install(app: FastAPI) -> None:
    app.add_exception_handler(InProgress, _in_progress)
    app.add_exception_handler(StorageFull, _storage)
    app.add_exception_handler(OSError, _storage)
    app.add_exception_handler(OperationalError, _storage)
    app.add_exception_handler(ClientDisconnect, _disconnected)


async def _in_progress(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=409, headers={"Retry-After": "1"})


async def _storage(request: Request, exc: Exception) -> Response:
    if not is_storage_full(exc):
        raise exc  # an unexpected failure: the server's own 500, with its traceback logged
    log.error("storage is full", extra={"path": request.url.path, "error": str(exc)})
    return JSONResponse(
        {"detail": "insufficient storage: the server's disk is full; nothing was kept, retry"},
        status_code=507,
        headers={"Retry-After": "30"},
    )


async def _disconnected(request: Request, exc: Exception) -> Response:
    """The client closed the connection mid-request: nothing to answer, nothing to alarm."""
    log.info("client disconnected", extra={"path": request.url.path})
    return Response(status_code=400)
