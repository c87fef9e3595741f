"""What the routes need, built once per app from a Runtime."""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.adapters.sql.keys import SqlKeyStore
from darkroom.api.presign import Signer, load_or_create_key
from darkroom.api.security import TokenBuckets
from darkroom.settings import Settings
from darkroom.wiring import Runtime


@dataclass
class Services:
    runtime: Runtime
    settings: Settings
    keys: SqlKeyStore
    buckets: TokenBuckets
    signer: Signer

    @classmethod
    def build(cls, runtime: Runtime) -> Services:
        settings = runtime.settings
        return cls(
            runtime=runtime,
            settings=settings,
            keys=runtime.keys,
            buckets=TokenBuckets(),
            signer=Signer(load_or_create_key(settings.secret_key, settings.home)),
        )
