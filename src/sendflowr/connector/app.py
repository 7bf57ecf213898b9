"""The connector's FastAPI app: validated ingestion with acknowledged publishing.

Endpoints (all answers JSON; OpenAPI at ``/docs``):

- ``POST /api/events`` — JSON array or NDJSON of events (≤ 10,000 / 10 MB).
- ``POST /api/mock/events/synthetic`` — one event (the seed generator's endpoint).
- ``POST /api/mock/events/generate?count=N&seed=S`` — N server-made mock events.
- ``POST /api/webhooks/klaviyo``, ``POST /api/webhooks/sendgrid`` — signed ESP payloads.
- ``GET /health`` (200 only when Kafka answers), ``GET /metrics`` (Prometheus).

Answers: 200 ``{"accepted": N, "rejected": [{"index", "field", "reason"}]}`` once
Kafka acknowledged every accepted event; 422 when nothing was accepted; 400 bad
JSON; 413 too large; 415 a body that is not JSON/NDJSON by its ``Content-Type``;
401 missing API key or bad signature; 503 + ``Retry-After`` when Kafka did not
confirm (nothing of that request counts as accepted). The ``/api/mock/*`` endpoints
exist only with ``SENDFLOWR_MOCK_ENDPOINTS=true``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.connector.ingest import Ingestor
from sendflowr.connector.metrics import ConnectorMetrics
from sendflowr.connector.openapi import install_reference_page, install_schemas
from sendflowr.connector.publisher import KafkaPublisher, Publisher
from sendflowr.connector.routes import ConnectorRoutes
from sendflowr.connector.signatures import load_ec_public_key
from sendflowr.contract import too_deep
from sendflowr.errors import BadBody, TooLarge, UnsupportedMediaType
from sendflowr.http_errors import error_response, install_error_handlers
from sendflowr.identity import IdentityResolver, open_store
from sendflowr.settings import Settings

__all__ = ["create_app"]

_encode = msgspec.json.encode


class _StoreGate:
    """ASGI wrapper: while ``readiness()`` names a problem of the store (it cannot accept
    rows), every ``POST /api/…`` is a 503 with ``Retry-After`` — nothing is acknowledged
    that could not be stored."""

    def __init__(self, app: Any, readiness: Callable[[], str | None]) -> None:
        self.app = app
        self.readiness = readiness

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            problem = self.readiness() if scope["path"].startswith("/api/") else None
            if problem is not None:
                body = _encode({"error": "unavailable", "reason": f"store: {problem}"})
                headers = [(b"content-type", b"application/json"), (b"retry-after", b"5")]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    resolver: IdentityResolver | None = None,
    readiness: Callable[[], str | None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> FastAPI:
    """The connector app; its lifespan opens the identity store and the Kafka producer.

    ``readiness`` (None = not watched here) names why the store cannot accept rows: then
    ingestion answers 503 + ``Retry-After`` and ``/health`` says why.
    """
    metrics = ConnectorMetrics()
    pub: Publisher = publisher or KafkaPublisher(settings)
    res = resolver or IdentityResolver(open_store(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(res.start)
        await run_in_threadpool(pub.start)
        try:
            yield
        finally:
            await run_in_threadpool(pub.stop)
            await run_in_threadpool(res.stop)

    app = FastAPI(
        title="SendFlowr connector",
        version="0.1.0",
        summary="Validated event ingestion: identity resolution, email hashing, Kafka.",
        lifespan=lifespan,
    )
    app.state.metrics, app.state.resolver, app.state.publisher = metrics, res, pub
    install_schemas(app)
    if readiness is not None:
        app.add_middleware(_StoreGate, readiness=readiness)
    install_error_handlers(
        app,
        statuses={
            BadBody: (400, "bad_request"),
            TooLarge: (413, "too_large"),
            UnsupportedMediaType: (415, "unsupported_media_type"),
        },
    )
    install_reference_page(app)

    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, __: RecursionError) -> Response:
        # A value nested deeper than any decoder goes is bad input, never a server error.
        problem = too_deep()
        return error_response(422, "invalid", problem.field, problem.reason)

    sendgrid_key = (
        load_ec_public_key(settings.sendgrid_public_key) if settings.sendgrid_public_key else None
    )
    ConnectorRoutes(
        settings, Ingestor(res, pub, metrics, clock), pub, metrics, clock, readiness, sendgrid_key
    ).install(app)
    return app
