"""The web UI for people, served by `darkroom serve` itself under /ui (/ redirects there):
Jinja2 pages rendered on the server, htmx for the live parts, one small script of our own, no
build step. `install` mounts it on the API app."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from darkroom.api.services import Services
from darkroom.web import ops, pages, review, search
from darkroom.web.auth import SignInNeeded, current_session
from darkroom.web.headers import SecurityHeaders, policy
from darkroom.web.render import page
from darkroom.web.session import SessionCodec

PREFIX = "/ui"


def _connect_sources(services: Services) -> str:
    """Where the upload page may send bytes besides darkroom: the bucket, when storage is S3
    (presigned POST straight to it)."""
    return "https://*.amazonaws.com" if services.settings.storage_url.startswith("s3://") else ""


def create_ui(services: Services) -> FastAPI:
    ui = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    ui.state.services = services
    ui.state.sessions = SessionCodec(services.signer.key)
    for module in (pages, review, search, ops):
        ui.include_router(module.router)
    ui.mount("/static", StaticFiles(packages=[("darkroom.web", "static")]), name="static")

    @ui.exception_handler(SignInNeeded)
    def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        target = f"{PREFIX}/signin" + (f"?reason={exc.reason}" if exc.reason else "")
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @ui.exception_handler(HTTPException)
    def _error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if request.headers.get("hx-request") or "json" in request.headers.get("accept", ""):
            return Response(detail, status_code=exc.status_code, headers=exc.headers)
        return page(
            request,
            "error.html",
            status_code=exc.status_code,
            detail=detail,
            signed_in=current_session(request) is not None,
        )

    return ui


def install(app: FastAPI) -> None:
    """Mount the UI at /ui and send a browser that opens / there."""
    services: Services = app.state.services
    app.mount(PREFIX, SecurityHeaders(create_ui(services), policy(_connect_sources(services))))

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)
