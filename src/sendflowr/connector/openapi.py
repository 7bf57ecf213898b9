"""OpenAPI descriptions of the raw-body endpoints (bodies are decoded with msgspec, not
pydantic, so FastAPI cannot infer them): the ``IncomingEvent`` schema from msgspec; and the
API reference page at ``/scalar`` and ``/scalar/v1`` (where the seed's connector served it,
and where the seed's generator script probes for liveness)."""

from __future__ import annotations

from typing import Any, Final

import msgspec
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from sendflowr.events import IncomingEvent

__all__ = [
    "EVENTS_BODY",
    "ONE_EVENT_BODY",
    "REFERENCE_PATHS",
    "WEBHOOK_BODY",
    "install_reference_page",
    "install_schemas",
    "reference_page",
]

#: Where the seed's services served their Scalar API reference.
REFERENCE_PATHS: Final = ("/scalar", "/scalar/v1")

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


def reference_page(title: str, openapi_url: str) -> str:
    """A small API reference page: Scalar's viewer of ``openapi_url`` when the browser can
    load it, and plain links to the OpenAPI JSON and ``/docs`` either way (works offline)."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — API reference</title></head>
<body>
<h1>{title} — API reference</h1>
<p>OpenAPI document: <a href="{openapi_url}">{openapi_url}</a> · interactive docs:
<a href="/docs">/docs</a></p>
<script id="api-reference" data-url="{openapi_url}"></script>
<script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>
</body></html>
"""


def install_reference_page(app: FastAPI, paths: tuple[str, ...] = REFERENCE_PATHS) -> None:
    """Serve the API reference page (HTTP 200) at each of ``paths``."""
    page = reference_page(app.title, app.openapi_url or "/openapi.json")

    async def reference() -> HTMLResponse:
        return HTMLResponse(page)

    for path in paths:
        app.add_api_route(path, reference, methods=["GET"], include_in_schema=False)
