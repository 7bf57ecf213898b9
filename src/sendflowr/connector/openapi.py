"""OpenAPI descriptions of the raw-body endpoints (bodies are decoded with msgspec, not
pydantic, so FastAPI cannot infer them): the ``IncomingEvent`` schema from msgspec."""

from __future__ import annotations

from typing import Any, Final

import msgspec
from fastapi import FastAPI

from sendflowr.events import IncomingEvent

__all__ = ["EVENTS_BODY", "ONE_EVENT_BODY", "WEBHOOK_BODY", "install_schemas"]

_REF: Final = {"$ref": "#/components/schemas/IncomingEvent"}
_ANSWERS: Final[dict[str, Any]] = {
    "200": {"description": "Accepted and acknowledged by Kafka: {accepted, rejected[]}"},
    "400": {"description": "Body is not JSON / NDJSON"},
    "401": {"description": "Missing or wrong API key / webhook signature"},
    "413": {"description": "More than 10,000 events or 10 MB"},
    "422": {"description": "No event accepted: rejected[] names each field and reason"},
    "503": {"description": "Kafka did not acknowledge; retry after Retry-After seconds"},
}

EVENTS_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": _REF, "maxItems": 10_000}},
            "application/x-ndjson": {"schema": _REF},
        },
    },
    "responses": _ANSWERS,
}
ONE_EVENT_BODY: Final[dict[str, Any]] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": _REF}}},
    "responses": _ANSWERS,
}
WEBHOOK_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": _ANSWERS,
}


def install_schemas(app: FastAPI) -> None:
    """Add ``IncomingEvent`` to the app's OpenAPI components."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        _, components = msgspec.json.schema_components(
            [IncomingEvent], ref_template="#/components/schemas/{name}"
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
