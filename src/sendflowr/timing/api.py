"""The inference API (FastAPI): timing decisions, hourly fallback, features, identity, explanations.

Errors become HTTP only here: ValidationError → 422 ``{error, field, reason}``,
SuppressedError → 409 ``{error, reason, suppressed_until}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.concurrency import run_in_threadpool

from sendflowr.auth import check_api_key
from sendflowr.errors import IdentityError, SuppressedError, Unauthorized, ValidationError
from sendflowr.timing.decisions import Decision, DecisionRequest, Skipped
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.localtime import LocalDecider, local_fields
from sendflowr.timing.schemas import (
    BatchDecisionRequest,
    BatchDecisionResponse,
    DecisionOut,
    HourlyPrediction,
    IdentityKeys,
    LinkRequest,
    ResolutionOut,
    TimingRequest,
    WindowFields,
)

__all__ = ["create_app", "decision_body"]

Resolver = Any  # sendflowr.identity.IdentityResolver (optional at import time)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def decision_body(d: Decision) -> dict[str, Any]:
    """The JSON form of a decision."""
    return {
        "decision_id": d.decision_id,
        "universal_id": d.universal_id,
        "target_minute_utc": d.target_minute_utc.isoformat(),
        "trigger_timestamp_utc": d.trigger_timestamp_utc.isoformat(),
        "latency_estimate_seconds": d.latency_estimate_seconds,
        "confidence_score": d.confidence_score,
        "model_version": d.model_version,
        "explanation_ref": d.explanation_ref,
        "created_at_utc": d.created_at_utc.isoformat(),
        "debug": d.debug,
    }


def _skipped_body(s: Skipped) -> dict[str, Any]:
    until = s.until.isoformat() if s.until else None
    return {"universal_id": s.universal_id, "reason": s.reason, "suppressed_until": until}


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "sendflowr_timing_decisions", "Timing decisions by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.seconds = Histogram(
            "sendflowr_timing_request_seconds", "Inference request time", ["endpoint"],
            registry=self.registry,
        )  # fmt: skip


def create_app(
    make_engine: Callable[[], TimingEngine],
    *,
    make_resolver: Callable[[], Resolver] | None = None,
    api_key: str | None = None,
) -> FastAPI:
    """The inference app; its lifespan builds the engine (and opens the identity store)."""
    metrics = _Metrics()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["engine"] = await run_in_threadpool(make_engine)
        resolver = make_resolver() if make_resolver else None
        if resolver is not None:
            await run_in_threadpool(resolver.start)
        state["resolver"] = resolver
        try:
            yield
        finally:
            if resolver is not None:
                await run_in_threadpool(resolver.stop)

    app = FastAPI(
        title="SendFlowr inference",
        version="0.1.0",
        summary="Minute-level, latency-aware, explainable send-time decisions.",
        lifespan=lifespan,
    )

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> Response:
        return _json({"error": "unauthorized", "field": exc.field, "reason": exc.reason}, 401)

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> Response:
        return _json({"error": "invalid", "field": exc.field, "reason": exc.reason}, 422)

    @app.exception_handler(SuppressedError)
    async def _suppressed(_: Request, exc: SuppressedError) -> Response:
        until = exc.until.isoformat() if exc.until else None
        body = {"error": "suppressed", "reason": exc.reason, "suppressed_until": until}
        return _json(body, 409)

    def engine() -> TimingEngine:
        eng: TimingEngine = state["engine"]
        return eng

    def resolver() -> Resolver:
        res = state.get("resolver")
        if res is None:
            raise ValidationError("identity", "identity resolution is not available here")
        return res

    def check_key(request: Request) -> None:
        check_api_key(request.headers, api_key)

    def resolve_ids(recipients: list[IdentityKeys]) -> list[str]:
        from sendflowr.identity import keys_from

        ids: list[str | None] = [r.universal_id for r in recipients]
        pending = [i for i, uid in enumerate(ids) if not uid]
        if pending:
            key_sets = []
            for i in pending:
                ks = keys_from(**recipients[i].keys())
                if not ks:
                    raise IdentityError("universal_id", "give a universal_id or an identity key")
                key_sets.append(ks)
            for i, res in zip(pending, resolver().resolve_many(key_sets), strict=True):
                ids[i] = res.universal_id
        return [str(uid) for uid in ids]

    def request_of(body: WindowFields, ids: list[str]) -> DecisionRequest:
        return DecisionRequest(
            universal_ids=ids,
            send_after=body.send_after,
            send_before=body.send_before,
            channel=body.channel,
            provider=body.provider,
            campaign_type=body.campaign_type,
            payload_size_bytes=body.payload_size_bytes,
            queue_depth=body.queue_depth,
        )

    def decide_local(
        body: WindowFields, ids: list[str], zones: list[str | None], *, single: bool
    ) -> list[tuple[Decision | Skipped, Any]]:
        quiet = (body.quiet_hours.start, body.quiet_hours.end) if body.quiet_hours else None
        return LocalDecider(engine()).decide(
            request_of(body, ids), zones, after_local=body.send_after_local,
            before_local=body.send_before_local, quiet=quiet, single=single,
            inputs=inputs_of(body, len(ids)),
        )  # fmt: skip

    def inputs_of(body: WindowFields, recipients: int) -> dict[str, Any]:
        # Only the window and send fields: identity keys (a raw email!) are never stored.
        data = body.model_dump(mode="json", include=set(WindowFields.model_fields))
        data["recipients"] = recipients
        return data

    @app.post("/timing-decision", response_model=DecisionOut, tags=["timing"])
    def timing_decision(body: TimingRequest) -> Response:
        """The best delivery minute for one recipient and when to trigger the send."""
        with metrics.seconds.labels("timing-decision").time():
            ids = resolve_ids([body])
            try:
                out = decide_local(body, ids, [body.timezone], single=True)
            except SuppressedError:
                metrics.decisions.labels("suppressed").inc()
                raise
            metrics.decisions.labels("decided").inc()
            first, shown = out[0]
            assert isinstance(first, Decision)
            return _json(decision_body(first) | local_fields(first, shown))

    @app.post("/timing-decisions", response_model=BatchDecisionResponse, tags=["timing"])
    def timing_decisions(body: BatchDecisionRequest) -> Response:
        """Decisions for a whole audience (≤ 100,000) in one call: one feature query, numpy."""
        with metrics.seconds.labels("timing-decisions").time():
            ids = resolve_ids(list(body.recipients))
            zones = [r.timezone or body.timezone for r in body.recipients]
            out = decide_local(body, ids, zones, single=False)
            decisions = [decision_body(d) | local_fields(d, z) for d, z in out
                         if isinstance(d, Decision)]  # fmt: skip
            skipped = [_skipped_body(s) for s, _ in out if isinstance(s, Skipped)]
            metrics.decisions.labels("decided").inc(len(decisions))
            metrics.decisions.labels("suppressed").inc(len(skipped))
            return _json({"count": len(decisions), "decisions": decisions, "skipped": skipped})

    @app.post("/predict", response_model=HourlyPrediction, tags=["timing"])
    def predict(body: IdentityKeys) -> Response:
        """Legacy hourly STO: P(engagement) by hour of day and the next top of the best hour."""
        uid = resolve_ids([body])[0]
        eng = engine()
        probs, cold, version = eng.hourly(uid)
        best = max(range(24), key=lambda h: probs[h])
        now = eng.clock()
        at = now.replace(minute=0, second=0, microsecond=0, hour=best)
        if at <= now:
            at += timedelta(days=1)
        return _json({
            "universal_id": uid, "hourly_probabilities": probs, "best_hour_utc": best,
            "recommended_send_time_utc": at.isoformat(), "cold_start": cold,
            "model_version": version,
        })  # fmt: skip

    @app.get("/features/{universal_id}", tags=["features"])
    def features(universal_id: str) -> Response:
        """What the engine knows about a recipient: curve summary, hot paths, suppressions."""
        return _json(engine().features(universal_id))

    @app.post("/compute-features", tags=["features"])
    def compute_all(request: Request) -> Response:
        """Refit every recipient's curve now (normally refreshed every few minutes)."""
        check_key(request)
        model = engine().curves(refresh=True)
        return _json({"users": len(model.universal_ids), "curve_version": model.version})

    @app.post("/compute-features/{universal_id}", tags=["features"])
    def compute_one(universal_id: str, request: Request) -> Response:
        """Refit the curves and return this recipient's features."""
        check_key(request)
        return _json(engine().features(universal_id, refresh=True))

    @app.post("/resolve-identity", response_model=ResolutionOut, tags=["identity"])
    def resolve_identity(body: IdentityKeys) -> Response:
        """Resolve identity keys to a universal_id (creating the identity if new)."""
        from sendflowr.identity import keys_from

        ks = keys_from(**body.keys())
        if not ks:
            raise IdentityError("keys", "no usable identity key (email, phone or an id)")
        res = resolver().resolve_many([ks])[0]
        return _json(_resolution(res))

    @app.post("/link-identifiers", response_model=ResolutionOut, tags=["identity"])
    def link_identifiers(body: LinkRequest, request: Request) -> Response:
        """Link more keys to an existing universal_id (links only add, never overwrite)."""
        from sendflowr.identity import keys_from

        check_key(request)
        if not body.universal_id:
            raise ValidationError("universal_id", "required")
        ks = keys_from(**body.keys())
        if not ks:
            raise IdentityError("keys", "no identity key to link")
        return _json(_resolution(resolver().link(body.universal_id, list(ks))))

    @app.get("/explanations/{decision_id}", tags=["timing"])
    def explanation(decision_id: str) -> Response:
        """A stored decision with its inputs, base-curve peak, weights, suppression, latency."""
        record = engine().explanations.get(decision_id)
        if record is None:
            return _json({"error": "not_found", "decision_id": decision_id}, 404)
        return _json(record)

    @app.get("/health", tags=["ops"])
    def health() -> Response:
        """Liveness plus the model versions in use."""
        eng = engine()
        fitted = eng.fitted
        return _json({
            "status": "ok", "role": "inference",
            "curve_version": fitted.version if fitted else None,
            "latency_model_version": eng.latency.version,
        })  # fmt: skip

    @app.get("/metrics", tags=["ops"])
    def prometheus() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _resolution(res: Any) -> dict[str, Any]:
    return {
        "universal_id": res.universal_id,
        "confidence": res.confidence,
        "created": res.created,
        "steps": list(res.steps),
    }
