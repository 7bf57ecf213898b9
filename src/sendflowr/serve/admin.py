"""The loopback admin API of ``sendflowr serve``: confined read-only SQL over the process's store.

Embedded chDB lets one process own its data folder. While ``serve`` owns it,
``sendflowr sql``, ``status`` and ``report`` reach the same store through this
API. Its guard, in order:

- **a token**: ``serve`` writes a fresh one to ``SENDFLOWR_HOME/admin.token``
  (mode 0600) at start; ``POST /sql`` without ``Authorization: Bearer <token>`` is
  a 401 (``GET /health`` says only that serve runs);
- **the policy** of ``sendflowr.store.adhoc``: reads of the SendFlowr database
  only, no table function or clause that reaches files, URLs, other databases or
  the host; a refusal is a 403 ``{error, field, reason}`` and nothing ran;
- **its own ClickHouse session** (never the ingest or inference session) with
  ``readonly=1`` and time, memory and result limits, so neither a failed write
  nor a heavy query can touch ingestion.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticError
from starlette.concurrency import run_in_threadpool

from sendflowr.auth import check_bearer
from sendflowr.errors import StoreError, Unauthorized, ValidationError
from sendflowr.http_errors import error_response, install_error_handlers
from sendflowr.serve.contract import Resources
from sendflowr.store import ClickHouseStore
from sendflowr.store.adhoc import ADMIN_SESSION, check_ast, check_text, split_format

__all__ = ["AdminQueries", "create_admin_app", "jsonable"]


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


class AdminQueries:
    """Ad-hoc queries on the admin session: checked by the policy, then run confined."""

    def __init__(self, store: ClickHouseStore) -> None:
        """``store``: a store whose session is ``ADMIN_SESSION`` (readonly, limited)."""
        self._store = store
        self._table_functions: list[str] | None = None
        self._lock = threading.Lock()

    def _known_table_functions(self) -> list[str]:
        with self._lock:
            if self._table_functions is None:
                rows = self._store.query("SELECT name FROM system.table_functions").rows
                self._table_functions = [str(r[0]) for r in rows]
            return self._table_functions

    def check(self, sql: str, parameters: dict[str, Any]) -> None:
        """Raise ``ValidationError`` (field ``query``) unless ``sql`` may run; runs nothing."""
        check_text(sql)
        # EXPLAIN AST only parses: ClickHouse's own tree of the query, parameters bound.
        tree = self._store.query(f"EXPLAIN AST {sql}", parameters)
        check_ast(
            (str(r[0]) for r in tree.rows), self._store.database, self._known_table_functions()
        )

    def run_text(self, sql: str, parameters: dict[str, Any]) -> str:
        """Check ``sql``, then run it on the admin session: ClickHouse's own text output of
        the ``FORMAT`` the query names (TabSeparated when it names none)."""
        body, fmt = split_format(sql)
        self.check(body, parameters)
        return self._store.query_text(f"{body}\nFORMAT {fmt or 'TabSeparated'}", parameters)

    def run(self, sql: str, parameters: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        """Check ``sql``, then run it on the admin session: column names and JSON-ready rows."""
        self.check(sql, parameters)
        result = self._store.query(sql, parameters)
        return result.columns, [[jsonable(v) for v in row] for row in result.rows]


def _error(status: int, kind: str, field: str, reason: str, **extra: Any) -> Response:
    return error_response(status, kind, field, reason, **extra)


def create_admin_app(
    resources: Resources, token: str, *, session: Mapping[str, Any] = ADMIN_SESSION
) -> FastAPI:
    """The admin app; ``token`` guards ``/sql``. The admin session (ClickHouse settings
    ``session``, read-only) opens on first use."""
    app = FastAPI(title="SendFlowr admin", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    holder: list[AdminQueries] = []
    lock = threading.Lock()

    def queries() -> AdminQueries:
        with lock:
            if not holder:
                resources.store()  # the database exists (migrated) before a read-only session
                holder.append(
                    AdminQueries(resources.store("admin", settings={**session, "readonly": 1}))
                )
            return holder[0]

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.post("/sql")
    async def sql(request: Request) -> Response:
        """``{query, parameters}`` → ``{columns, rows}``; the token is checked first."""
        try:
            check_bearer(request.headers, token)
        except Unauthorized as exc:
            return _error(401, "unauthorized", exc.field, exc.reason)
        try:
            body = SqlRequest.model_validate_json(await request.body())
        except PydanticError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "$"
            return _error(422, "invalid", where, first["msg"])
        return await run_in_threadpool(_run, body)

    def _run(body: SqlRequest) -> Response:
        try:
            if body.raw:
                return PlainTextResponse(queries().run_text(body.query, body.parameters))
            columns, rows = queries().run(body.query, body.parameters)
        except ValidationError as exc:
            return _error(403, "refused", exc.field, exc.reason)
        except StoreError as exc:
            return _error(400, "query_failed", "query", str(exc), code=exc.code, name=exc.name)
        return JSONResponse({"columns": columns, "rows": rows})

    return app
