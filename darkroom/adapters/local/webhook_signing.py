"""The two signatures every webhook delivery carries.

darkroom's own (Stripe-style, so receivers can reject replays by timestamp):
    X-Darkroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
keyed by the secret's UTF-8 bytes.

Standard Webhooks (https://www.standardwebhooks.com), which libraries in many languages verify:
    webhook-id: <delivery id, the same on every retry>
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
keyed by the base64-decoded part of a `whsec_...` secret, or by the secret's UTF-8 bytes for
any other secret (verify with `Webhook(secret.encode())`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Darkroom-Signature"
STANDARD_PREFIX = "whsec_"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes | str, header: str, tolerance: float = 300.0) -> bool:
    """What a receiver does: recompute the MAC and compare in constant time. The body is the
    raw request body, as bytes or as the str it decodes to (UTF-8)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


def standard_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature for this secret."""
    if secret.startswith(STANDARD_PREFIX):
        return base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
    return secret.encode("utf-8")


def check_secret(secret: str) -> None:
    """A `whsec_` secret must be base64 of 24 to 64 bytes, as the specification asks."""
    if not secret.startswith(STANDARD_PREFIX):
        return
    try:
        key = standard_key(secret)
    except (binascii.Error, ValueError):
        raise ValueError("a whsec_ secret must be whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"a whsec_ secret must decode to 24-64 bytes, not {len(key)}")


def new_secret() -> str:
    return STANDARD_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def standard_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def signed_headers(secret: str | None, message_id: str, body: bytes) -> dict[str, str]:
    """Both signatures for one attempt, made at the same second."""
    if not secret:
        return {}
    now = int(time.time())
    standard = standard_headers(secret, message_id, now, body)
    return {SIGNATURE_HEADER: sign(secret, body, now), **standard}
