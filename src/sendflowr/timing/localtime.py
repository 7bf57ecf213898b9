"""Decisions in the recipient's local time: zones, local windows, quiet hours, local output.

Which clock a recipient is read on: the request's ``timezone`` (per recipient,
else per batch), else the zone stored with their events, else one inferred from
their activity pattern (with a confidence), else UTC — the answer says which
(``zone_source``, ``zone_confidence``). Their curve is always evaluated on the
clock it was learned on (``EventSource.zone_of``, ``ZoneChoice.curve_clock``: a stored
zone, never an inferred offset); local windows and quiet hours
are read on the answer's clock. Recipients sharing both clocks are decided in
one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Protocol

from sendflowr.errors import ValidationError
from sendflowr.timing.context import Context
from sendflowr.timing.curves import CurveModel
from sendflowr.timing.decisions import Decision, DecisionRequest, Skipped, decide
from sendflowr.timing.latency import LatencyPredictor
from sendflowr.timing.zone_choices import learned_zones
from sendflowr.timing.zones import (
    ZoneChoice,
    check_zone,
    local_to_utc,
    offset_label,
    tzinfo_of,
    window_to_utc,
)

__all__ = ["LocalDecider", "ZonePlan", "decide_by_clock", "local_fields", "plan_zones"]


class _Engine(Protocol):
    source: Any

    def decide(
        self, req: DecisionRequest, *, single: bool = False, inputs: dict[str, Any] | None = None
    ) -> list[Decision | Skipped]: ...


@dataclass(frozen=True, slots=True)
class ZonePlan:
    """A recipient's two clocks: the answer's (``shown``) and their curve's (``curve``)."""

    shown: ZoneChoice
    curve: str


def plan_zones(source: Any, ids: Sequence[str], requested: Sequence[str | None]) -> list[ZonePlan]:
    """The clocks of each recipient (``requested``: the request's zone for each, or None)."""
    plans = []
    asked_choice: dict[str, ZoneChoice] = {}
    default = ZonePlan(_DEFAULT, _DEFAULT.name)
    for learned, asked in zip(learned_zones(source, ids), requested, strict=True):
        if asked:
            shown = asked_choice.get(asked) or asked_choice.setdefault(
                asked, ZoneChoice(check_zone(asked), "request", 1.0)
            )
        elif learned is not None:
            shown = learned
        else:
            plans.append(default)
            continue
        plans.append(ZonePlan(shown, learned.curve_clock if learned is not None else shown.name))
    return plans


_DEFAULT: Final = ZoneChoice()


def decide_by_clock(
    req: DecisionRequest,
    curves: CurveModel,
    latency: LatencyPredictor,
    contexts: dict[str, Context],
    now: datetime,
    source: Any,
) -> list[Decision | Skipped]:
    """``decisions.decide`` for recipients whose curves live on different clocks.

    Curves are learned on each recipient's local week (``source.zone_of``), so a
    UTC window is evaluated on each recipient's own clock; recipients sharing one
    are decided together. The answer keeps the order of ``req.universal_ids``.
    """
    groups: dict[str, list[int]] = {}
    for i, learned in enumerate(learned_zones(source, req.universal_ids)):
        groups.setdefault(learned.curve_clock if learned is not None else "UTC", []).append(i)
    out: dict[int, Decision | Skipped] = {}
    for clock, members in groups.items():
        part = replace(req, universal_ids=[req.universal_ids[i] for i in members], timezone=clock)
        for i, answer in zip(members, decide(part, curves, latency, contexts, now), strict=True):
            out[i] = answer
    return [out[i] for i in range(len(req.universal_ids))]


def local_fields(
    decision: Decision,
    shown: ZoneChoice,
    memo: dict[tuple[datetime, ZoneChoice], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The target in local time with its offset, and where the zone came from.

    ``target_local`` is an aware datetime (orjson writes it as ISO 8601). ``memo``
    (one per response) shares the answer between decisions with the same target
    and clock; the dict returned must then be copied, not changed.
    """
    key = (decision.target_minute_utc, shown)
    hit = memo.get(key) if memo is not None else None
    if hit is None:
        local = decision.target_minute_utc.astimezone(tzinfo_of(shown.name))
        hit = {
            "timezone": shown.name,
            "target_local": local,
            "utc_offset": offset_label(local),
            "zone_source": shown.source,
            "zone_confidence": shown.confidence,
        }
        if memo is not None:
            memo[key] = hit
    return hit


class LocalDecider:
    """Splits a decision request by clock, converts local windows, reassembles in order."""

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine

    def decide(
        self,
        base: DecisionRequest,
        requested: Sequence[str | None],
        *,
        after_local: datetime | None = None,
        before_local: datetime | None = None,
        quiet: tuple[Any, Any] | None = None,
        single: bool = False,
        inputs: dict[str, Any] | None = None,
    ) -> list[tuple[Decision | Skipped, ZoneChoice]]:
        """Decide ``base.universal_ids``; each answer with the clock it is shown on."""
        if after_local is not None and base.send_after is not None:
            raise ValidationError("send_after_local", "give send_after or send_after_local")
        if before_local is not None and base.send_before is not None:
            raise ValidationError("send_before_local", "give send_before or send_before_local")
        ids = base.universal_ids
        plans = plan_zones(self.engine.source, ids, requested)
        groups: dict[tuple[str, str, str, float], list[int]] = {}
        for i, plan in enumerate(plans):
            key = (plan.curve, plan.shown.name, plan.shown.source, plan.shown.confidence)
            groups.setdefault(key, []).append(i)
        out: dict[int, tuple[Decision | Skipped, ZoneChoice]] = {}
        for (curve, shown_name, source, confidence), members in groups.items():
            shown = ZoneChoice(shown_name, source, confidence)
            req = replace(base, universal_ids=[ids[i] for i in members], timezone=curve)
            if after_local is not None or before_local is not None:
                a, b = _local_window(after_local, before_local, shown_name)
                req = replace(req, send_after=a or req.send_after, send_before=b or req.send_before)
            if quiet is not None:
                req = replace(req, quiet_hours=(quiet[0], quiet[1], shown_name))
            zone_inputs = dict(inputs or {})
            zone_inputs["zone"] = {"timezone": shown_name, "source": source,
                                   "confidence": confidence, "curve_clock": curve}  # fmt: skip
            answers = self.engine.decide(req, single=single, inputs=zone_inputs)
            for i, answer in zip(members, answers, strict=True):
                out[i] = (answer, shown)
        return [out[i] for i in range(len(ids))]


def _local_window(
    after: datetime | None, before: datetime | None, zone: str
) -> tuple[datetime | None, datetime | None]:
    if after is not None and before is not None:
        return window_to_utc(after, before, zone)
    return (
        local_to_utc(after, zone) if after is not None else None,
        local_to_utc(before, zone) if before is not None else None,
    )
