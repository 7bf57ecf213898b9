"""The inference API (FastAPI): timing decisions, hourly fallback, features, identity, explanations.

Errors become HTTP through ``sendflowr.http_errors`` (the one mapping every app shares):
ValidationError → 422 ``{error, field, reason}``, SuppressedError → 409 (+ ``suppressed_until``).
The reference system's contract (``timing/compat.py``) is registered beside these routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Body, Depends, FastAPI, Request
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
from sendflowr.connector.openapi import install_reference_page
from sendflowr.errors import IdentityError, NotFound, SuppressedError, ValidationError
from sendflowr.generator.world import default_world
from sendflowr.http_errors import error_response, install_error_handlers
from sendflowr.identity import IdentityResolver
from sendflowr.timing import compat
from sendflowr.timing.audience import Capacity
from sendflowr.timing.context import suppression_block
from sendflowr.timing.decisions import Decision, DecisionRequest, Skipped, paused_gc
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explore import DEFAULT_EXPLORE_SHARE
from sendflowr.timing.grid import epoch_minute, from_epoch_minute, slot_of
from sendflowr.timing.localtime import LocalDecider, local_fields
from sendflowr.timing.schedules_api import install_schedule_routes
from sendflowr.timing.schemas import (
    BatchDecisionRequest,
    BatchDecisionResponse,
    CapacityIn,
    DecisionOut,
    HourlyPrediction,
    IdentityKeys,
    LinkRequest,
    ResolutionOut,
    TimingRequest,
    WindowFields,
)

__all__ = ["check_provider", "create_app", "decision_body"]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def decision_body(d: Decision) -> dict[str, Any]:
    """The JSON form of a decision, for orjson (which writes datetimes as ISO 8601)."""
    return {
        "decision_id": d.decision_id,
        "universal_id": d.universal_id,
        "target_minute_utc": slot_of(d.target_minute_utc),
        "target_time_utc": d.target_minute_utc,
        "trigger_timestamp_utc": d.trigger_timestamp_utc,
        "latency_estimate_seconds": d.latency_estimate_seconds,
        "confidence_score": d.confidence_score,
        "model_version": d.model_version,
        "explanation_ref": d.explanation_ref,
        "created_at_utc": d.created_at_utc,
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
    stop_engine: Callable[[], None] | None = None,
    make_resolver: Callable[[], IdentityResolver] | None = None,
    make_click_stats: Callable[[], compat.ClickStats] | None = None,
    api_key: str | None = None,
    readiness: Callable[[], str | None] | None = None,
    providers: Mapping[str, str] | None = None,
    explore_share: float = DEFAULT_EXPLORE_SHARE,
    explore_seed: int = 0,
) -> FastAPI:
    """The inference app; its lifespan builds the engine (and opens the identity store).

    ``stop_engine`` is called when the lifespan ends: it stops what ``make_engine``
    started (the role's live context, schedule firing and explanation writer), so an
    app that was shut down leaves no Kafka client or thread behind.

    ``providers`` maps each known provider to its channel (default: the shipped
    world file's); a request naming another, or one of another channel, is a
    422. ``explore_share``/``explore_seed``: exploration when a request does not
    set its own share. ``make_click_stats`` gives ``/features`` its click counts
    (none: counted as zero). ``readiness`` names why the store cannot accept rows
    (None = fine or not watched): ``/health`` is then a 503 saying why. A store or
    identity-store failure in a request is a 503 with ``Retry-After``, never a 500.
    """
    known = dict(providers) if providers is not None else _world_providers()
    metrics = _Metrics()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["engine"] = await run_in_threadpool(make_engine)
        resolver = make_resolver() if make_resolver else None
        if resolver is not None:
            await run_in_threadpool(resolver.start)
        state["resolver"] = resolver
        state["clicks"] = make_click_stats() if make_click_stats else compat.MemoryClickStats()
        try:
            yield
        finally:
            if stop_engine is not None:
                await run_in_threadpool(stop_engine)
            if resolver is not None:
                await run_in_threadpool(resolver.stop)

    app = FastAPI(
        title="SendFlowr inference",
        version="0.1.0",
        summary="Minute-level, latency-aware, explainable send-time decisions.",
        lifespan=lifespan,
    )

    install_error_handlers(app)
    install_reference_page(app, ("/scalar",))
    app.include_router(compat.router)

    def engine() -> TimingEngine:
        eng: TimingEngine = state["engine"]
        return eng

    def resolver() -> IdentityResolver:
        res: IdentityResolver | None = state.get("resolver")
        if res is None:
            raise ValidationError("identity", "identity resolution is not available here")
        return res

    def require_key(request: Request) -> None:
        check_api_key(request.headers, api_key)

    # Every endpoint that reads or writes recipient data; only /health and /metrics are open.
    guarded: list[Any] = [Depends(require_key)]

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

    def request_of(
        body: WindowFields, ids: list[str], capacity: CapacityIn | None = None
    ) -> DecisionRequest:
        if body.provider is not None:
            check_provider(known, body.channel, body.provider)
        return DecisionRequest(
            universal_ids=ids,
            send_after=body.send_after,
            send_before=body.send_before,
            channel=body.channel,
            provider=body.provider,
            campaign_type=body.campaign_type,
            payload_size_bytes=body.payload_size_bytes,
            queue_depth=body.queue_depth,
            capacity=_capacity(capacity, known),
            capacity_used={} if capacity is not None else None,
            explore_share=explore_share if body.explore_share is None else body.explore_share,
            explore_seed=explore_seed,
        )

    def decide_local(
        body: WindowFields,
        ids: list[str],
        zones: list[str | None],
        *,
        single: bool,
        capacity: CapacityIn | None = None,
    ) -> list[tuple[Decision | Skipped, Any]]:
        quiet = (body.quiet_hours.start, body.quiet_hours.end) if body.quiet_hours else None
        inputs = inputs_of(body, len(ids))
        if capacity is not None:
            inputs["capacity"] = capacity.model_dump(mode="json")
        # Recipients on different clocks are decided in several calls; capacity_used
        # carries the minutes each call took, so the capacity holds for the whole batch.
        return LocalDecider(engine()).decide(
            request_of(body, ids, capacity), zones, after_local=body.send_after_local,
            before_local=body.send_before_local, quiet=quiet, single=single, inputs=inputs,
        )  # fmt: skip

    def inputs_of(body: WindowFields, recipients: int) -> dict[str, Any]:
        # Only the window and send fields: identity keys (a raw email!) are never stored.
        data = body.model_dump(mode="json", include=set(WindowFields.model_fields))
        data["recipients"] = recipients
        return data

    @app.post("/timing-decision", dependencies=guarded, response_model=DecisionOut, tags=["timing"])
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

    @app.post(
        "/timing-decisions",
        dependencies=guarded,
        response_model=BatchDecisionResponse,
        tags=["timing"],
    )
    def timing_decisions(body: BatchDecisionRequest) -> Response:
        """Decisions for a whole audience (≤ 100,000) in one call: one feature query, numpy."""
        with metrics.seconds.labels("timing-decisions").time(), paused_gc():
            ids = resolve_ids(list(body.recipients))
            zones = [r.timezone or body.timezone for r in body.recipients]
            out = decide_local(body, ids, zones, single=False, capacity=body.capacity)
            memo: dict[Any, dict[str, Any]] = {}
            decisions = [decision_body(d) | local_fields(d, z, memo) for d, z in out
                         if isinstance(d, Decision)]  # fmt: skip
            skipped = [_skipped_body(s) for s, _ in out if isinstance(s, Skipped)]
            metrics.decisions.labels("decided").inc(len(decisions))
            metrics.decisions.labels("suppressed").inc(len(skipped))
            return _json({"count": len(decisions), "decisions": decisions, "skipped": skipped})

    # --- held schedules (timing.schedules_api) ---
    install_schedule_routes(app, state, lambda b: _one(decide_local(b, resolve_ids([b]), [b.timezone], single=True)), require_key)  # noqa: E501  # fmt: skip

    @app.post("/predict", dependencies=guarded, response_model=HourlyPrediction, tags=["timing"])
    def predict(body: compat.PredictRequest) -> Response:
        """Legacy hourly STO: P(engagement) by hour of day and the most likely top of the
        hour within ``hours_ahead`` (the reference's ``peak_hour``/``peak_probability`` too).

        Circuit breakers apply as in ``/timing-decision``: a permanent suppression
        is a 409; during a temporary one the recommendation is the best top of the
        hour after it ends (``suppressed_until``).
        """
        uid = resolve_ids([body.who()])[0]
        eng = engine()
        now = eng.clock.now()
        minute = epoch_minute(now)
        ctx = eng.source.contexts([uid], minute).get(uid)
        suppressions = ctx.suppressions if ctx is not None else []
        blocked = suppression_block(suppressions, minute, minute + 1) if suppressions else None
        until: datetime | None = None
        if blocked is not None:
            breaker, end = blocked
            if end is None:
                metrics.decisions.labels("suppressed").inc()
                raise SuppressedError(breaker.reason, None)
            until = from_epoch_minute(end)
        probs, cold, version = eng.hourly(uid)
        best = max(range(24), key=lambda h: probs[h])
        start = max(now, until) if until is not None else now
        hour, at = compat.best_hour_within(probs, start, body.hours_ahead)
        return _json({
            "universal_id": uid, "hourly_probabilities": probs, "best_hour_utc": best,
            "recommended_send_time_utc": at.isoformat(), "cold_start": cold,
            "model_version": version, "recipient_id": body.recipient_id or uid,
            "peak_hour": hour, "peak_probability": probs[hour], "hours_ahead": body.hours_ahead,
            "suppressed_until": until.isoformat() if until is not None else None,
            "note": "A projection of the minute-level curve: /timing-decision picks the minute.",
        })  # fmt: skip

    @app.get("/features/{universal_id}", dependencies=guarded, tags=["features"])
    def features(universal_id: str) -> Response:
        """What the engine knows about a recipient: curve summary, hot paths, suppressions,
        and the reference's fields; 404 for a recipient with no event at all."""
        return _json(features_of(universal_id))

    def features_of(universal_id: str, *, refresh: bool = False) -> dict[str, Any]:
        eng = engine()
        ours = eng.features(universal_id, refresh=refresh)
        now = eng.clock.now()
        clicks = state["clicks"].clicks(universal_id, now)
        unknown = ours["cold_start"] and not (
            ours["hot_paths"] or ours["sends_last_24h"] or ours["suppressions"] or clicks.count_30d
        )
        if unknown:
            raise NotFound("universal_id", f"no events for {universal_id}")
        model = eng.curves()
        curve = model.curves(model.rows([universal_id]))[0]
        return compat.reference_features(ours, curve, clicks, now)

    @app.post("/compute-features", dependencies=guarded, tags=["features"])
    def compute_all() -> Response:
        """Refit every recipient's curve now (normally refreshed every few minutes)."""
        model = engine().curves(refresh=True)
        return _json({
            "users": len(model.universal_ids), "curve_version": model.version,
            "status": "computed", "scope": "all_users",
        })  # fmt: skip

    @app.post("/compute-features/{universal_id}", dependencies=guarded, tags=["features"])
    def compute_one(universal_id: str) -> Response:
        """Refit the curves and return this recipient's features."""
        return _json({**features_of(universal_id, refresh=True), "status": "computed"})

    @app.post(
        "/resolve-identity", dependencies=guarded, response_model=ResolutionOut, tags=["identity"]
    )
    def resolve_identity(
        body: Annotated[IdentityKeys | None, Body()] = None,
        query: Annotated[IdentityKeys | None, Depends(compat.reference_keys)] = None,
    ) -> Response:
        """Resolve identity keys (a JSON body, or the reference's query parameters) to a
        universal_id, creating the identity if new."""
        from sendflowr.identity import keys_from

        given = body or query or IdentityKeys()
        ks = keys_from(**given.keys())
        if not ks:
            raise IdentityError("keys", "no usable identity key (email, phone or an id)")
        res = resolver().resolve_many([ks])[0]
        return _json(compat.resolution_body(res, given.keys()))

    @app.post(
        "/link-identifiers", dependencies=guarded, response_model=ResolutionOut, tags=["identity"]
    )
    def link_identifiers(
        body: Annotated[LinkRequest | None, Body()] = None,
        query: Annotated[compat.LinkQuery | None, Depends(compat.link_query)] = None,
    ) -> Response:
        """Link more keys to an existing universal_id (links only add, never overwrite); or,
        as the reference did, ``identifier_a``/``type_a`` with ``identifier_b``/``type_b``."""
        from sendflowr.identity import keys_from

        if body is None and query is not None:
            return _json(compat.link_pair(resolver(), query))
        if body is None:
            raise ValidationError("universal_id", "missing required field")
        if not body.universal_id:
            raise ValidationError("universal_id", "required")
        ks = keys_from(**body.keys())
        if not ks:
            raise IdentityError("keys", "no identity key to link")
        res = resolver().link(body.universal_id, list(ks))
        return _json(compat.resolution_body(res, body.keys()))

    @app.get("/explanations/{decision_id}", dependencies=guarded, tags=["timing"])
    def explanation(decision_id: str) -> Response:
        """A stored decision with its inputs, base-curve peak, weights, suppression, latency."""
        record = engine().explanations.get(decision_id)
        if record is None:
            reason = "no decision with this id"
            return error_response(404, "not_found", "decision_id", reason, decision_id=decision_id)
        return _json(record)

    @app.get("/health", tags=["ops"])
    def health() -> Response:
        """Liveness plus the model versions in use; 503 saying why when the store cannot
        accept rows."""
        eng = engine()
        fitted = eng.fitted
        problem = readiness() if readiness is not None else None
        body = {
            "status": "healthy" if problem is None else "unavailable",
            "role": "inference",
            "store": problem or "ok",
            "curve_version": fitted.version if fitted else None,
            "latency_model_version": eng.latency.version,
        }
        return _json(body, 200 if problem is None else 503)

    @app.get("/metrics", tags=["ops"])
    def prometheus() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _one(out: list[tuple[Decision | Skipped, Any]]) -> Decision:
    """The one decision of a single-recipient call (it raises when suppressed)."""
    first = out[0][0]
    assert isinstance(first, Decision)
    return first


def _world_providers() -> dict[str, str]:
    """Provider → channel, from the shipped world file."""
    return {p.name: p.channel for p in default_world().providers}


def check_provider(providers: Mapping[str, str], channel: str, provider: str) -> None:
    """Raise ValidationError (→ 422) unless ``provider`` is known and sends on ``channel``."""
    valid = sorted(p for p, ch in providers.items() if ch == channel)
    if providers.get(provider) != channel:
        where = "unknown provider" if provider not in providers else "not a provider"
        raise ValidationError(
            "provider",
            f"{where} {provider!r} for channel {channel!r}; valid: {', '.join(valid) or 'none'}",
        )


def _capacity(body: CapacityIn | None, providers: Mapping[str, str]) -> Capacity | None:
    if body is None:
        return None
    unknown = sorted(set(body.per_provider) - set(providers))
    if unknown:
        raise ValidationError(
            "capacity.per_provider",
            f"unknown provider(s) {', '.join(unknown)}; valid: {', '.join(sorted(providers))}",
        )
    return Capacity(per_minute=body.per_minute, per_provider=dict(body.per_provider))
