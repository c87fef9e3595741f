"""The API Lambda: darkroom's FastAPI app behind API Gateway (REST API, proxy integration).

Mangum translates API Gateway's proxy events to ASGI and the answers back (binary bodies
base64-encoded), so the Lambda serves the very app `darkroom serve` runs: same routes, same
auth, same OpenAPI document. Powertools' own resolver is a router of its own and cannot host an
ASGI app.
"""

from __future__ import annotations

import os
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from darkroom.api.app import create_app
from darkroom.lambdas.runtime import logger, runtime, tracer
from darkroom.wiring import SettingsError

_adapters: dict[int, Mangum] = {}


def adapter() -> Mangum:
    """The app over the container's Runtime, built with it."""
    rt = runtime()
    found = _adapters.get(id(rt))
    if found is None:
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not rt.settings.secret_key:
            # Each container would make up its own key: a link presigned in one would fail in
            # another.
            raise SettingsError("DARKROOM_SECRET_KEY must be set for the API on Lambda")
        _adapters.clear()
        found = _adapters[id(rt)] = Mangum(create_app(rt), lifespan="off")
    return found


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(adapter()(event, cast(Any, context)))  # Mangum types its own context
