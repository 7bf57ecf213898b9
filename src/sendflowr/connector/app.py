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

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sendflowr.auth import check_api_key
from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.connector.decode import check_content_type, decode_body, decode_one
from sendflowr.connector.ingest import Ingestor, IngestResult
from sendflowr.connector.metrics import CONTENT_TYPE_LATEST, ConnectorMetrics
from sendflowr.connector.mock import generate_mock_events
from sendflowr.connector.openapi import (
    EVENTS_BODY,
    ONE_EVENT_BODY,
    WEBHOOK_BODY,
    install_reference_page,
    install_schemas,
)
from sendflowr.connector.publisher import KafkaPublisher, Publisher
from sendflowr.connector.signatures import (
    KLAVIYO_SIGNATURE,
    KLAVIYO_TIMESTAMP,
    SENDGRID_SIGNATURE,
    SENDGRID_TIMESTAMP,
    load_ec_public_key,
    verify_klaviyo,
    verify_sendgrid,
)
from sendflowr.connector.webhooks import Mapped, map_klaviyo, map_sendgrid
from sendflowr.contract import too_deep
from sendflowr.errors import BadBody, SignatureInvalid, TooLarge, UnsupportedMediaType
from sendflowr.http_errors import error_body, error_response, install_error_handlers
from sendflowr.identity import IdentityResolver, open_store
from sendflowr.settings import Settings

__all__ = ["create_app"]

_encode = msgspec.json.encode


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(body), status, headers, media_type="application/json")


def _result(result: IngestResult, **extra: Any) -> Response:
    if result.rejected and not result.accepted:
        # Nothing accepted: the error envelope (first rejection) beside the per-item list.
        first = result.rejected[0]
        envelope = error_body("invalid", first.field, first.reason)
        return _json({**envelope, **result.body(), **extra}, 422)
    return _json({**result.body(), **extra}, 200)


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise TooLarge("$", f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("$", f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
    ingestor = Ingestor(res, pub, metrics, clock)
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    sendgrid_key = (
        load_ec_public_key(settings.sendgrid_public_key) if settings.sendgrid_public_key else None
    )
    max_events, max_bytes = settings.connector_max_events, settings.connector_max_bytes

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

    def _check_key(request: Request) -> None:
        check_api_key(request.headers, api_key)

    def _check_media(request: Request) -> None:
        check_content_type(request.headers.get("content-type"))

    @app.post("/api/events", openapi_extra=EVENTS_BODY, tags=["ingest"])
    async def post_events(request: Request) -> Response:
        """Ingest a batch: a JSON array or NDJSON of events (≤ 10,000 events, ≤ 10 MB)."""
        _check_key(request)
        _check_media(request)
        decoded = decode_body(await _read_body(request, max_bytes), max_events=max_events)
        result = await ingestor.ingest(decoded.events, decoded.rejected)
        return _result(result)

    if settings.mock_endpoints:

        @app.post("/api/mock/events/synthetic", openapi_extra=ONE_EVENT_BODY, tags=["mock"])
        async def post_synthetic(request: Request) -> Response:
            """Ingest one event (the seed generator's endpoint).

            A ``timestamp``/``send_time`` without a zone is read as UTC, as the seed's
            client writes them, unless ``SENDFLOWR_CONNECTOR_STRICT_TIMESTAMPS`` is set.
            """
            _check_key(request)
            _check_media(request)
            body = await _read_body(request, max_bytes)
            event = decode_one(body, naive_utc=not settings.connector_strict_timestamps)
            result = await ingestor.ingest([(0, event)], source="synthetic")
            if not result.published:
                return _result(result)
            published = result.published[0]
            return _result(result, event_id=published.event_id, universal_id=published.universal_id)

        @app.post("/api/mock/events/generate", tags=["mock"])
        async def post_generate(
            request: Request,
            count: int = Query(100, ge=1, le=100_000, description="Events to make."),
            seed: int | None = Query(
                None, ge=0, le=2**63 - 1, description="Random seed (default: random)."
            ),
        ) -> Response:
            """Make ``count`` realistic mock events server-side and ingest them."""
            _check_key(request)
            used_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
            events, source = await run_in_threadpool(generate_mock_events, count, used_seed)
            total = IngestResult()
            for start in range(0, len(events), max_events):
                chunk = list(enumerate(events[start : start + max_events], start))
                part = await ingestor.ingest(chunk, source="mock")
                total.published.extend(part.published)
                total.rejected.extend(part.rejected)
            return _result(total, source=source, seed=used_seed)

    async def _webhook(mapped: Mapped, provider: str) -> Response:
        result = await ingestor.ingest(mapped.events, mapped.rejected, source=provider)
        return _result(result, skipped=mapped.skipped)

    @app.post("/api/webhooks/klaviyo", openapi_extra=WEBHOOK_BODY, tags=["webhooks"])
    async def klaviyo(request: Request) -> Response:
        """Klaviyo webhooks, verified with HMAC-SHA256 (``Klaviyo-Signature``)."""
        _check_media(request)
        body = await _read_body(request, max_bytes)
        secret = settings.klaviyo_webhook_secret
        try:
            verify_klaviyo(
                body,
                request.headers.get(KLAVIYO_SIGNATURE),
                request.headers.get(KLAVIYO_TIMESTAMP),
                secret=secret.get_secret_value() if secret else None,
                now=clock.now(),
                tolerance_s=settings.webhook_tolerance_seconds,
            )
        except SignatureInvalid:
            metrics.signature_failures.labels("klaviyo").inc()
            raise
        mapped = map_klaviyo(body, request.headers.get("klaviyo-webhook-id"))
        return await _webhook(mapped, "klaviyo")

    @app.post("/api/webhooks/sendgrid", openapi_extra=WEBHOOK_BODY, tags=["webhooks"])
    async def sendgrid(request: Request) -> Response:
        """SendGrid Event Webhook, verified with ECDSA (or HMAC-SHA256 with a secret)."""
        _check_media(request)
        body = await _read_body(request, max_bytes)
        secret = settings.sendgrid_webhook_secret
        try:
            verify_sendgrid(
                body,
                request.headers.get(SENDGRID_SIGNATURE),
                request.headers.get(SENDGRID_TIMESTAMP),
                public_key=sendgrid_key,
                secret=secret.get_secret_value() if secret else None,
                now=clock.now(),
                tolerance_s=settings.webhook_tolerance_seconds,
            )
        except SignatureInvalid:
            metrics.signature_failures.labels("sendgrid").inc()
            raise
        return await _webhook(map_sendgrid(body), "sendgrid")

    @app.get("/health", tags=["ops"])
    async def health() -> Response:
        """200 ``{"status": "ok"}`` when Kafka answers (and the store, where watched, can
        accept rows), else 503 saying why."""
        kafka = "ok" if await pub.ready() else "unreachable"
        problem = readiness() if readiness is not None else None
        body = {"status": "ok", "kafka": kafka}
        if readiness is not None:
            body["store"] = problem or "ok"
        if kafka == "ok" and problem is None:
            return _json(body)
        return _json({**body, "status": "unavailable"}, 503, {"Retry-After": "5"})

    @app.get("/metrics", tags=["ops"])
    async def prometheus() -> Response:
        """Prometheus text format."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
