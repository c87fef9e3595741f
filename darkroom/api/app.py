"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from darkroom import __version__, web
from darkroom.api import failures
from darkroom.api.middleware import BodyLimit, RequestMetrics
from darkroom.api.routes import (
    admin,
    consents,
    docs,
    images,
    ops,
    portraits,
    presigned,
    review,
    search,
    uploads,
    webhooks,
)
from darkroom.api.services import Services
from darkroom.wiring import Runtime

DESCRIPTION = """Image ingestion and intelligence. Every route but /health, /metrics and the docs
needs an `X-API-Key` header; a presigned upload URL is its own credential."""


def create_app(runtime: Runtime) -> FastAPI:
    services = Services.build(runtime)
    settings = runtime.settings
    # /docs and /redoc come from routes/docs.py: offline assets, counted by route in metrics
    app = FastAPI(
        title="darkroom",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    failures.install(app)
    for router in (
        uploads.router,
        presigned.router,
        images.router,
        review.router,
        search.router,
        webhooks.router,
        admin.router,
        ops.router,
        docs.router,
        consents.router,
        portraits.router,
    ):
        app.include_router(router)
    web.install(app)  # the UI for people, at /ui (and / redirects there)
    max_upload = settings.limits.max_bytes

    def limit_for(path: str) -> int:
        if path in ("/upload", "/ui/search/similar"):
            return max_upload * 4 // 3 + 64 * 1024  # base64 in JSON, multipart framing
        if path.startswith("/upload/presigned/"):
            return max_upload + 1024
        return settings.max_body_bytes

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(RequestMetrics)
    return app
