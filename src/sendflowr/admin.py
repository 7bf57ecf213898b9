"""The loopback admin API of ``sendflowr serve``: read-only SQL over the process's store.

Embedded chDB lets one process own its data folder. While ``serve`` owns it,
``sendflowr sql``, ``status`` and ``report`` reach the same store through this
API (127.0.0.1 only; queries run with ClickHouse's ``readonly=2``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from sendflowr.errors import StoreError
from sendflowr.http_errors import error_response, install_error_handlers
from sendflowr.roles import Resources

__all__ = ["create_admin_app", "jsonable"]


class SqlRequest(BaseModel):
    """A read-only query with bound parameters."""

    query: str = Field(min_length=1, max_length=100_000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    raw: bool = Field(default=False, description="Answer ClickHouse's own output (text).")


def jsonable(value: Any) -> Any:
    """A JSON-friendly form of a ClickHouse value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def create_admin_app(resources: Resources) -> FastAPI:
    """The admin app; the store is opened lazily through ``resources``."""
    app = FastAPI(title="SendFlowr admin", docs_url=None, redoc_url=None)
    install_error_handlers(app)

    @app.get("/health")
    def health() -> dict[str, Any]:
        store = resources.store()
        return {"status": "ok", "database": store.database, "embedded": store.embedded}

    @app.post("/sql")
    def sql(request: SqlRequest) -> Response:
        store = resources.store()
        try:
            if request.raw:
                text = store.query_text(request.query, request.parameters, readonly=True)
                return PlainTextResponse(text)
            result = store.query(request.query, request.parameters, readonly=True)
        except StoreError as exc:
            return error_response(
                400, "query_failed", "query", str(exc), code=exc.code, name=exc.name
            )
        rows = [[jsonable(v) for v in row] for row in result.rows]
        return JSONResponse({"columns": result.columns, "rows": rows})

    return app
