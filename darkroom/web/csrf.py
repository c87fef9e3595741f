"""CSRF: every form and script request that changes something carries the session's token
(a hidden `csrf` field, or the `X-CSRF-Token` header htmx and app.js send), and a browser's
Origin, when it names one, must be this service. SameSite=Strict already keeps the cookie off
other sites' requests; this is the second lock."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from darkroom.web.session import Session

HEADER = "x-csrf-token"
FIELD = "csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")


async def check(request: Request, session: Session) -> None:
    """Raise 403 unless an unsafe request carries the session's token from this origin."""
    if request.method in SAFE_METHODS:
        return
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    sent = request.headers.get(HEADER)
    if sent is None:
        media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if media in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            value = (await request.form()).get(FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
