"""HTTP routes of held schedules: ``POST /schedules``, ``GET /schedules/{id}``, ``GET /schedules``.

``POST /schedules`` takes the body of ``POST /timing-decision`` plus ``campaign_id``
and ``on_breaker`` (``cancel`` | ``move``): it decides, then holds the decision
until its trigger time (201 with the schedule). The book lives on the engine's
``LiveSource`` (``timing.live``); without one (a store-only engine, Kafka
unreachable at start) these routes answer 422 naming ``schedules``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import Field

from sendflowr.errors import ValidationError
from sendflowr.timing.decisions import Decision
from sendflowr.timing.schedules import Schedule, ScheduleBook, new_schedule_id
from sendflowr.timing.schemas import TimingRequest

__all__ = ["ScheduleRequest", "install_schedule_routes", "schedule_book"]


class ScheduleRequest(TimingRequest):
    """POST /schedules: a timing decision to hold until its trigger time."""

    campaign_id: str = Field(default="", max_length=256)
    on_breaker: Literal["cancel", "move"] = Field(
        default="cancel",
        description="On a circuit breaker covering the target: cancel, or move past it.",
    )


def schedule_book(state: dict[str, Any]) -> ScheduleBook:
    """The book of the engine's live source (a 422 ``ValidationError`` when there is none)."""
    engine = state.get("engine")
    book = getattr(getattr(engine, "source", None), "schedules", None)
    if not isinstance(book, ScheduleBook):
        raise ValidationError("schedules", "this process holds no schedules (no live source)")
    return book


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def install_schedule_routes(
    app: FastAPI,
    state: dict[str, Any],
    decide_one: Callable[[ScheduleRequest], Decision],
    require_key: Callable[[Request], None],
) -> None:
    """Register the schedule routes on ``app`` (``decide_one`` = the single-decision path)."""
    guarded: list[Any] = [Depends(require_key)]

    @app.post("/schedules", dependencies=guarded, status_code=201, tags=["schedules"])
    def hold(body: ScheduleRequest) -> Response:
        """Decide and hold: a send command is published at the trigger time."""
        book = schedule_book(state)
        d = decide_one(body)
        now = book.clock.now()
        start = body.send_after or now
        schedule = Schedule(
            schedule_id=new_schedule_id(now),
            universal_id=d.universal_id,
            decision_id=d.decision_id,
            campaign_id=body.campaign_id,
            channel=body.channel,
            trigger_at=d.trigger_timestamp_utc,
            target_at=d.target_minute_utc,
            window_start=start,
            window_end=body.send_before or start + timedelta(days=7),
            created_at=now,
            on_breaker=body.on_breaker,
        )
        book.hold([schedule])
        return _json(schedule.to_json(), 201)

    @app.get("/schedules/{schedule_id}", dependencies=guarded, tags=["schedules"])
    def get(schedule_id: str) -> Response:
        """One schedule and where it stands (pending, fired, cancelled)."""
        return _json(schedule_book(state).get(schedule_id).to_json())

    @app.get("/schedules", dependencies=guarded, tags=["schedules"])
    def find(
        universal_id: str | None = None,
        campaign_id: str | None = None,
        limit: int = Query(default=1000, ge=1, le=100_000),
    ) -> Response:
        """Schedules of a recipient and/or a campaign (newest first), with counts by status."""
        book = schedule_book(state)
        found = book.find(universal_id=universal_id, campaign_id=campaign_id, limit=limit)
        return _json({"counts": book.counts(), "schedules": [s.to_json() for s in found]})
