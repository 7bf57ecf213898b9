"""The connector's endpoints, one method each, over the parts ``create_app`` assembles.

``ConnectorRoutes.install(app)`` registers them; each handler checks the API key and the
content type where it takes a body, reads at most ``SENDFLOWR_CONNECTOR_MAX_BYTES`` and
answers once Kafka acknowledged (``Ingestor``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sendflowr.auth import check_api_key
from sendflowr.clock import Clock
from sendflowr.connector.decode import check_content_type, decode_body, decode_one
from sendflowr.connector.ingest import Ingestor, IngestResult
from sendflowr.connector.metrics import CONTENT_TYPE_LATEST, ConnectorMetrics
from sendflowr.connector.mock import generate_mock_events
from sendflowr.connector.openapi import EVENTS_BODY, ONE_EVENT_BODY, WEBHOOK_BODY
from sendflowr.connector.publisher import Publisher
from sendflowr.connector.signatures import (
    KLAVIYO_SIGNATURE,
    KLAVIYO_TIMESTAMP,
    SENDGRID_SIGNATURE,
    SENDGRID_TIMESTAMP,
    verify_klaviyo,
    verify_sendgrid,
)
from sendflowr.connector.webhooks import Mapped, map_klaviyo, map_sendgrid
from sendflowr.errors import SignatureInvalid, TooLarge
from sendflowr.http_errors import error_body
from sendflowr.settings import Settings

__all__ = ["ConnectorRoutes", "json_response"]

_encode = msgspec.json.encode


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``body`` as a JSON answer."""
    return Response(_encode(body), status, headers, media_type="application/json")


def _result(result: IngestResult, **extra: Any) -> Response:
    if result.rejected and not result.accepted:
        # Nothing accepted: the error envelope (first rejection) beside the per-item list.
        first = result.rejected[0]
        envelope = error_body("invalid", first.field, first.reason)
        return json_response({**envelope, **result.body(), **extra}, 422)
    return json_response({**result.body(), **extra}, 200)


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


@dataclass(frozen=True)
class ConnectorRoutes:
    """The endpoints and what they need; ``install`` registers them on an app."""

    settings: Settings
    ingestor: Ingestor
    publisher: Publisher
    metrics: ConnectorMetrics
    clock: Clock
    readiness: Callable[[], str | None] | None = None
    sendgrid_key: EllipticCurvePublicKey | None = None

    def install(self, app: FastAPI) -> None:
        """Register every endpoint (the mock ones only with ``SENDFLOWR_MOCK_ENDPOINTS``)."""
        app.post("/api/events", openapi_extra=EVENTS_BODY, tags=["ingest"])(self.post_events)
        if self.settings.mock_endpoints:
            app.post("/api/mock/events/synthetic", openapi_extra=ONE_EVENT_BODY, tags=["mock"])(
                self.post_synthetic
            )
            app.post("/api/mock/events/generate", tags=["mock"])(self.post_generate)
        app.post("/api/webhooks/klaviyo", openapi_extra=WEBHOOK_BODY, tags=["webhooks"])(
            self.klaviyo
        )
        app.post("/api/webhooks/sendgrid", openapi_extra=WEBHOOK_BODY, tags=["webhooks"])(
            self.sendgrid
        )
        app.get("/health", tags=["ops"])(self.health)
        app.get("/metrics", tags=["ops"])(self.prometheus)

    def _check_key(self, request: Request) -> None:
        key = self.settings.api_key
        check_api_key(request.headers, key.get_secret_value() if key else None)

    async def _body(self, request: Request) -> bytes:
        check_content_type(request.headers.get("content-type"))
        return await _read_body(request, self.settings.connector_max_bytes)

    async def post_events(self, request: Request) -> Response:
        """Ingest a batch: a JSON array or NDJSON of events (≤ 10,000 events, ≤ 10 MB)."""
        self._check_key(request)
        body = await self._body(request)
        decoded = decode_body(body, max_events=self.settings.connector_max_events)
        result = await self.ingestor.ingest(decoded.events, decoded.rejected)
        return _result(result)

    async def post_synthetic(self, request: Request) -> Response:
        """Ingest one event (the seed generator's endpoint).

        A ``timestamp``/``send_time`` without a zone is read as UTC, as the seed's
        client writes them, unless ``SENDFLOWR_CONNECTOR_STRICT_TIMESTAMPS`` is set.
        """
        self._check_key(request)
        body = await self._body(request)
        event = decode_one(body, naive_utc=not self.settings.connector_strict_timestamps)
        result = await self.ingestor.ingest([(0, event)], source="synthetic")
        if not result.published:
            return _result(result)
        published = result.published[0]
        return _result(result, event_id=published.event_id, universal_id=published.universal_id)

    async def post_generate(
        self,
        request: Request,
        count: int = Query(100, ge=1, le=100_000, description="Events to make."),
        seed: int | None = Query(
            None, ge=0, le=2**63 - 1, description="Random seed (default: random)."
        ),
    ) -> Response:
        """Make ``count`` realistic mock events server-side and ingest them."""
        self._check_key(request)
        used_seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        events, source = await run_in_threadpool(generate_mock_events, count, used_seed)
        total = IngestResult()
        step = self.settings.connector_max_events
        for start in range(0, len(events), step):
            chunk = list(enumerate(events[start : start + step], start))
            part = await self.ingestor.ingest(chunk, source="mock")
            total.published.extend(part.published)
            total.rejected.extend(part.rejected)
        return _result(total, source=source, seed=used_seed)

    async def _webhook(
        self, request: Request, provider: str, verify: Callable[[bytes], None]
    ) -> tuple[bytes, Callable[[Mapped], Any]]:
        body = await self._body(request)
        try:
            verify(body)
        except SignatureInvalid:
            self.metrics.signature_failures.labels(provider).inc()
            raise

        async def ingest(mapped: Mapped) -> Response:
            result = await self.ingestor.ingest(mapped.events, mapped.rejected, source=provider)
            return _result(result, skipped=mapped.skipped)

        return body, ingest

    async def klaviyo(self, request: Request) -> Response:
        """Klaviyo webhooks, verified with HMAC-SHA256 (``Klaviyo-Signature``)."""
        secret = self.settings.klaviyo_webhook_secret

        def verify(body: bytes) -> None:
            verify_klaviyo(
                body,
                request.headers.get(KLAVIYO_SIGNATURE),
                request.headers.get(KLAVIYO_TIMESTAMP),
                secret=secret.get_secret_value() if secret else None,
                now=self.clock.now(),
                tolerance_s=self.settings.webhook_tolerance_seconds,
            )

        body, ingest = await self._webhook(request, "klaviyo", verify)
        result: Response = await ingest(
            map_klaviyo(body, request.headers.get("klaviyo-webhook-id"))
        )
        return result

    async def sendgrid(self, request: Request) -> Response:
        """SendGrid Event Webhook, verified with ECDSA (or HMAC-SHA256 with a secret)."""
        secret = self.settings.sendgrid_webhook_secret

        def verify(body: bytes) -> None:
            verify_sendgrid(
                body,
                request.headers.get(SENDGRID_SIGNATURE),
                request.headers.get(SENDGRID_TIMESTAMP),
                public_key=self.sendgrid_key,
                secret=secret.get_secret_value() if secret else None,
                now=self.clock.now(),
                tolerance_s=self.settings.webhook_tolerance_seconds,
            )

        body, ingest = await self._webhook(request, "sendgrid", verify)
        result: Response = await ingest(map_sendgrid(body))
        return result

    async def health(self) -> Response:
        """200 ``{"status": "ok"}`` when Kafka answers (and the store, where watched, can
        accept rows), else 503 saying why."""
        kafka = "ok" if await self.publisher.ready() else "unreachable"
        problem = self.readiness() if self.readiness is not None else None
        body = {"status": "ok", "kafka": kafka}
        if self.readiness is not None:
            body["store"] = problem or "ok"
        if kafka == "ok" and problem is None:
            return json_response(body)
        return json_response({**body, "status": "unavailable"}, 503, {"Retry-After": "5"})

    async def prometheus(self) -> Response:
        """Prometheus text format."""
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)
