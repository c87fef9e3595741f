"""Security headers on every page of the UI: a strict Content-Security-Policy (scripts and
styles from this origin only: no inline script, no eval), no framing, no sniffing, no referrer
leaking ids to other sites."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def policy(extra_connect: str = "") -> str:
    connect = " ".join(filter(None, ["'self'", extra_connect]))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            f"connect-src {connect}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The time the page took in this process, for browsers' tools and the bench.
                spent = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                message["headers"] = [
                    *message.get("headers", []),
                    *self.headers,
                    (b"server-timing", spent),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
