"""The web session: a cookie signed by the server (HMAC-SHA256) holding the API key the person
signed in with and the CSRF token of their forms. HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it), Secure when the service is reached over HTTPS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "darkroom_session"
MAX_AGE = 12 * 3600  # a day's shift; then sign in again


@dataclass(frozen=True)
class Session:
    api_key: str
    csrf: str
    issued_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    def __init__(self, server_secret: bytes) -> None:
        # A key of its own, derived from the server's: a session cookie is never an upload grant.
        self.key = hmac.new(server_secret, b"darkroom web session", hashlib.sha256).digest()

    def new(self, api_key: str) -> Session:
        return Session(api_key=api_key, csrf=secrets.token_urlsafe(24), issued_at=time.time())

    def encode(self, session: Session) -> str:
        payload = _b64(
            json.dumps(
                {"k": session.api_key, "c": session.csrf, "t": session.issued_at},
                separators=(",", ":"),
            ).encode()
        )
        mac = hmac.new(self.key, payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def decode(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie, or None when it is missing, altered or too old."""
        if not cookie:
            return None
        payload, _, signature = cookie.partition(".")
        expected = _b64(hmac.new(self.key, payload.encode(), hashlib.sha256).digest())
        if not signature or not hmac.compare_digest(expected, signature):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(str(data["k"]), str(data["c"]), float(data["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if (now or time.time()) - session.issued_at > MAX_AGE:
            return None
        return session
