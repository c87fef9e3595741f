"""Who is calling (X-API-Key), what they may do (admin), and how much (usage plans)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from darkroom.adapters.sql.keys import ApiKey
from darkroom.settings import Plan

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


@dataclass(frozen=True)
class Principal:
    key: ApiKey

    @property
    def owner(self) -> str:
        return self.key.owner


class TooManyRequests(HTTPException):
    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(429, detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class TokenBuckets:
    """Steady rate with a burst, per key, in this process (one `darkroom serve` process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def take(self, key: str, plan: Plan) -> float:
        """Take one token; answer 0 when allowed, else the seconds until one is free."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(plan.burst), now))
            tokens = min(float(plan.burst), tokens + (now - last) * plan.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / plan.rate


def period_of(plan: Plan, now: datetime) -> tuple[str, float]:
    """The quota period's name and the seconds until it ends."""
    if plan.period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        name = start.strftime("%Y-%m-%d")
    else:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        name = start.strftime("%Y-%m")
    return name, (end - now).total_seconds()


def authenticate(request: Request, secret: str | None = Security(api_key_header)) -> Principal:
    """The caller's key, checked against its plan's rate and quota."""
    services = request.app.state.services
    if not secret:
        raise HTTPException(401, "missing X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})
    key = services.keys.verify(secret)
    if key is None:
        raise HTTPException(
            401, "invalid or revoked API key", headers={"WWW-Authenticate": "ApiKey"}
        )
    plan = services.settings.plans.get(key.plan)
    if plan is None:
        raise HTTPException(403, f"the key's usage plan {key.plan!r} no longer exists")
    wait = services.buckets.take(key.id, plan)
    if wait > 0:
        raise TooManyRequests(
            f"rate limit of plan {key.plan!r} exceeded ({plan.rate:g}/s, burst {plan.burst})", wait
        )
    if plan.quota is not None:
        period, remaining = period_of(plan, datetime.now(UTC))
        used = services.keys.add_usage(key.id, period)
        if used > plan.quota:
            raise TooManyRequests(
                f"quota of plan {key.plan!r} exceeded ({plan.quota} per {plan.period})", remaining
            )
    request.state.principal = Principal(key)
    return Principal(key)


def require_admin(principal: Principal = Security(authenticate)) -> Principal:
    if not principal.key.admin:
        raise HTTPException(403, "this route needs an admin key")
    return principal
