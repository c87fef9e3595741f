"""Errors in the shapes the OpenAPI document promises."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError


def invalid(where: tuple[str, ...], message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors: {"detail": [{loc, msg, type}]}."""
    return HTTPException(422, [{"loc": list(where), "msg": message, "type": "value_error"}])


def from_validation(exc: ValidationError, prefix: str = "body") -> HTTPException:
    details: list[dict[str, Any]] = [
        {"loc": [prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    return HTTPException(422, details)


VALIDATION_SCHEMA = {"$ref": "#/components/schemas/HTTPValidationError"}
COMMON: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "a body that cannot be parsed (broken JSON or multipart, more than 10 "
        "multipart fields or more than one file)"
    },
    401: {"description": "missing, wrong or revoked API key"},
    413: {"description": "request body over the size limit"},
    429: {"description": "over the rate or quota of the key's plan (see Retry-After)"},
    507: {"description": "the server's storage is full: nothing was kept (see Retry-After)"},
}
