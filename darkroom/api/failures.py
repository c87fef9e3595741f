"""What the API answers when the world, not the request, is the problem: a full disk (507, and
nothing kept), a concurrent duplicate request (409, try again), a client that went away."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import compile_path

from darkroom.domain.errors import InProgress, StorageFull, is_storage_full

log = logging.getLogger("darkroom.api")
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def install(app: FastAPI) -> None:
    app.add_exception_handler(InProgress, _in_progress)
    app.add_exception_handler(StorageFull, _storage)
    app.add_exception_handler(OSError, _storage)
    app.add_exception_handler(OperationalError, _storage)
    app.add_exception_handler(ClientDisconnect, _disconnected)
    app.add_exception_handler(StarletteHTTPException, _http)


async def _http(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, but a 405 names every method the path has (Starlette's names only
    those of the first route that matched the path)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = sorted(
            method.upper()
            for template, operations in request.app.openapi()["paths"].items()
            if compile_path(template)[0].fullmatch(request.url.path)
            for method in operations
            if method in _METHODS
        )
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


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
