"""Request bodies API Gateway validates, taken from the FastAPI app's own OpenAPI document.

API Gateway models are JSON Schema draft 4: references are inlined, and the keywords draft 4
lacks are rewritten (`const`) or dropped (annotations such as `examples`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from darkroom.api.routes import presigned, uploads

DRAFT_4 = "http://json-schema.org/draft-04/schema#"
DROPPED = frozenset({"examples", "title", "discriminator", "readOnly", "writeOnly", "deprecated"})
# (path, method) whose JSON body API Gateway checks before the Lambda runs.
VALIDATED = (("/upload", "post"), ("/upload/presign", "post"))


def upload_openapi() -> dict[str, Any]:
    """The OpenAPI document of the upload routes (no runtime needed to describe them)."""
    app = FastAPI()
    app.include_router(uploads.router)
    app.include_router(presigned.router)
    return app.openapi()


def to_draft4(schema: Any, components: dict[str, Any], depth: int = 0) -> Any:
    if depth > 20:
        raise ValueError("schema nests deeper than 20 levels (a recursive model?)")
    if isinstance(schema, list):
        return [to_draft4(item, components, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return to_draft4(components[name], components, depth + 1)
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED:
            continue
        if key == "const":
            converted["enum"] = [value]
        elif key in {"properties", "patternProperties", "definitions"}:
            converted[key] = {k: to_draft4(v, components, depth + 1) for k, v in value.items()}
        else:
            converted[key] = to_draft4(value, components, depth + 1)
    return converted


def request_models() -> dict[str, dict[str, Any]]:
    """Path -> the draft-4 schema of its application/json request body."""
    document = upload_openapi()
    components = document.get("components", {}).get("schemas", {})
    models = {}
    for path, method in VALIDATED:
        body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        models[path] = {"$schema": DRAFT_4, **to_draft4(body["schema"], components)}
    return models
