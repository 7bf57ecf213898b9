"""The one mapping from errors to HTTP answers, shared by every app (connector, inference, admin).

Every 4xx answer is a JSON object with at least ``error`` (a short kind), ``field``
(where, or null) and ``reason`` (why); some add data (``suppressed_until``,
``rejected``, ``code``). FastAPI's own ``{"detail": [...]}`` never comes back:

====================================  ======  =====================================
raised                                status  ``error``
====================================  ======  =====================================
body that is not JSON                 400     ``bad_request``
request schema error (pydantic)       422     ``invalid`` (``field`` = its location)
``Unauthorized``                      401     ``unauthorized``
``NotFound``                          404     ``not_found``
``ValidationError``/``IdentityError`` 422     ``invalid`` (or as ``statuses`` says)
``SuppressedError``                   409     ``suppressed`` (+ ``suppressed_until``)
``ServiceError``                      503     ``unavailable`` (+ ``Retry-After``)
``HTTPException`` / unknown route     its     ``not_found``, ``method_not_allowed`` …
====================================  ======  =====================================

``install_error_handlers(app, statuses={BadBody: (400, "bad_request")})`` lets an app map
its own ``ValidationError`` subclasses; the most specific class wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sendflowr.errors import (
    KafkaUnavailable,
    NotFound,
    ServiceError,
    SuppressedError,
    Unauthorized,
    ValidationError,
)

__all__ = ["error_body", "error_response", "install_error_handlers", "schema_error"]

#: Status and ``error`` kind of each ``ValidationError`` class, unless an app says otherwise.
_DEFAULT_STATUSES: Final[dict[type[ValidationError], tuple[int, str]]] = {
    ValidationError: (422, "invalid"),
    Unauthorized: (401, "unauthorized"),
    NotFound: (404, "not_found"),
}
_SERVICE_RETRY_AFTER: Final = 5
_SOURCES: Final = frozenset({"body", "query", "path", "header", "cookie"})


def error_body(error: str, field: str | None, reason: str, **extra: Any) -> dict[str, Any]:
    """The error envelope: ``{error, field, reason}`` plus any ``extra`` data."""
    return {"error": error, "field": field, "reason": reason, **extra}


def error_response(
    status: int,
    error: str,
    field: str | None,
    reason: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An HTTP answer carrying the error envelope."""
    body = orjson.dumps(error_body(error, field, reason, **extra))
    return Response(body, status, dict(headers or {}), media_type="application/json")


def _location(loc: Sequence[Any]) -> str:
    # pydantic's location starts with where the value came from ("body", "query", …):
    # a body field is named by its path, a parameter by its name.
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    return ".".join(parts) or "$"


def schema_error(errors: Sequence[Mapping[str, Any]]) -> tuple[int, str, str, str]:
    """``(status, error, field, reason)`` for pydantic's error list (the first error wins)."""
    if not errors:
        return 422, "invalid", "$", "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return 400, "bad_request", "$", f"invalid JSON: {first.get('msg', '')}".rstrip(": ")
    field = _location(first.get("loc", ()))
    reason = str(first.get("msg", "invalid"))
    if first.get("type") == "missing":
        reason = "missing required field"
    return 422, "invalid", field, reason


def _kind(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def install_error_handlers(
    app: FastAPI,
    *,
    statuses: Mapping[type[ValidationError], tuple[int, str]] | None = None,
) -> None:
    """Register the shared exception handlers on ``app``.

    ``statuses`` maps an app's own ``ValidationError`` subclasses to ``(status, error)``.
    """
    table = {**_DEFAULT_STATUSES, **(statuses or {})}

    @app.exception_handler(RequestValidationError)
    async def _schema(_: Request, exc: RequestValidationError) -> Response:
        status, error, field, reason = schema_error(exc.errors())
        return error_response(status, error, field, reason)

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> Response:
        cls = next(c for c in type(exc).__mro__ if c in table)
        status, error = table[cls]
        return error_response(status, error, exc.field, exc.reason)

    @app.exception_handler(SuppressedError)
    async def _suppressed(_: Request, exc: SuppressedError) -> Response:
        until = exc.until.isoformat() if exc.until else None
        return error_response(409, "suppressed", None, exc.reason, suppressed_until=until)

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> Response:
        # Kafka, ClickHouse or the identity store did not answer: nothing happened, retry.
        retry = exc.retry_after if isinstance(exc, KafkaUnavailable) else _SERVICE_RETRY_AFTER
        headers = {"Retry-After": str(retry)}
        return error_response(503, "unavailable", None, str(exc), headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        field = request.url.path if exc.status_code == 404 else None
        reason = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(
            exc.status_code, _kind(exc.status_code), field, reason, headers=exc.headers
        )
