"""Presigned upload URLs served by darkroom itself: an HMAC-signed token that binds owner,
image id, content type, maximum size, optional SHA-256 and expiry. The URL is the credential."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path


class PresignError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Grant:
    image_id: str
    owner: str
    filename: str
    content_type: str
    max_size: int
    sha256: str | None
    recipe: str
    expires_at: float
    key_id: str = ""  # the API key that asked for it: revoking the key revokes the URL


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def sign(self, grant: Grant) -> str:
        payload = _b64(json.dumps(asdict(grant), separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self.key, payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def verify(self, token: str, now: float | None = None) -> Grant:
        payload, _, signature = token.partition(".")
        try:
            expected = hmac.new(self.key, payload.encode(), hashlib.sha256).digest()
            # Compare the text, not decoded bytes: base64 decoding ignores padding and spare
            # low bits, so decoding would accept several spellings of one signature.
            if not signature or not hmac.compare_digest(_b64(expected), signature):
                raise PresignError(
                    403, "invalid signature: the upload URL was altered or is not ours"
                )
            grant = Grant(**json.loads(_unb64(payload)))
        except PresignError:
            raise
        except (ValueError, TypeError) as exc:
            raise PresignError(403, f"malformed upload URL: {exc}") from None
        if (now or time.time()) > grant.expires_at:
            raise PresignError(403, "the upload URL has expired")
        return grant


def load_or_create_key(configured: str | None, home: Path) -> bytes:
    """The configured secret, else one kept in DARKROOM_HOME (created once, readable by us only)."""
    if configured:
        return configured.encode()
    path = home / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip().encode()
