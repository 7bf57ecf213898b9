"""Live context in memory: dedup, windows, permanence; the source contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sendflowr.clock import ManualClock
from sendflowr.errors import StoreError
from sendflowr.timing.curves import CurveConfig
from sendflowr.timing.decisions import Decision, DecisionRequest
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.grid import epoch_minute, from_epoch_minute
from sendflowr.timing.live import BatchedExplanations, LiveContexts, LiveSource, Signal
from sendflowr.timing.revisions import engine_scorer
from sendflowr.timing.schedules import Schedule
from sendflowr.timing.sources import MemorySource, evidence_from_rows
from tests.unit.timing.synthetic import START, history
from tests.unit.timing.test_decisions import FixedLatency

NOW = 29_000_000


def test_an_event_seen_twice_counts_once() -> None:
    live = LiveContexts()
    assert live.apply(Signal("e1", "u", "sent", NOW - 10))
    assert not live.apply(Signal("e1", "u", "sent", NOW - 10))
    ctx = live.context("u", NOW)
    assert ctx is not None and ctx.recent_sends == [NOW - 10]


def test_events_without_context_are_ignored() -> None:
    live = LiveContexts()
    assert not live.apply(Signal("e1", "u", "opened", NOW))
    assert live.context("u", NOW) is None


def test_windows_expire_but_permanent_suppressions_do_not() -> None:
    live = LiveContexts()
    live.apply(Signal("a", "u", "site_visit", NOW - 31))
    live.apply(Signal("b", "u", "site_visit", NOW - 5))
    live.apply(Signal("c", "u", "sent", NOW - 25 * 60))
    live.apply(Signal("d", "u", "complaint", NOW - 49 * 60))
    live.apply(Signal("e", "u", "unsubscribed", NOW - 400 * 24 * 60))
    ctx = live.context("u", NOW)
    assert ctx is not None
    assert ctx.hot_paths == [NOW - 5]
    assert ctx.recent_sends == []
    assert [s.reason for s in ctx.suppressions] == ["unsubscribed"]
    live.prune(NOW)
    assert live.context("u", NOW) == ctx


def test_future_events_do_not_apply_yet() -> None:
    live = LiveContexts()
    live.apply(Signal("a", "u", "complaint", NOW + 10))
    assert live.context("u", NOW) is None
    assert live.context("u", NOW + 10) is not None


def test_live_source_reads_memory_only() -> None:
    live = LiveContexts()
    live.apply(Signal("a", "u", "support_ticket", NOW - 1))
    source = LiveSource(MemorySource(evidence_from_rows([])), live)
    got = source.contexts(["u", "v"], NOW)
    assert list(got) == ["u"] and got["u"].suppressions[0].end == NOW - 1 + 48 * 60


def test_schedule_json_round_trip() -> None:
    t = datetime(2026, 3, 2, 9, tzinfo=UTC)
    s = Schedule("s", "u", "d", "c", "email", t, t + timedelta(seconds=5), t, t, t)
    assert Schedule.from_json(s.to_json()) == s
    assert s.command()["idempotency_key"] == "s"


def test_engine_scorer_reads_the_fitted_base_curve() -> None:
    evidence, end = history({"early": (8,), "late": (20,)})
    engine = TimingEngine(MemorySource(evidence), MemoryExplanations(), FixedLatency(10.0),
                          config=CurveConfig(segments=2),
                          clock=ManualClock(from_epoch_minute(end)))  # fmt: skip
    score = engine_scorer(engine)
    monday = epoch_minute(START) + 12 * 7 * 1440  # a Monday after the history
    at8, at20 = monday + 8 * 60 + 30, monday + 20 * 60 + 30
    assert score("early", [at8, at20]) == [1.0, 1.0]  # not fitted yet: all minutes alike
    engine.curves()
    early, late = score("early", [at8, at20]), score("late", [at8, at20])
    assert early[0] > early[1] and late[1] > late[0]


def test_prune_forgets_expired_event_ids() -> None:
    live = LiveContexts()
    live.apply(Signal("old", "u", "site_visit", NOW - 40))
    live.apply(Signal("new", "u", "site_visit", NOW - 1))
    live.prune(NOW)
    assert live.apply(Signal("old", "u", "site_visit", NOW - 40))  # its id was forgotten
    assert not live.apply(Signal("new", "u", "site_visit", NOW - 1))
    live.prune(NOW + 60)
    assert len(live) == 0


class _FlakyStore(MemoryExplanations):
    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    def save(self, decisions: list[Decision], inputs: dict[str, Any]) -> None:
        if self.fail:
            raise StoreError("down")
        super().save(decisions, inputs)


def test_batched_explanations_are_readable_at_once_and_written_later() -> None:
    evidence, end = history({"a": (9,)})
    engine = TimingEngine(MemorySource(evidence), MemoryExplanations(), FixedLatency(10.0),
                          clock=ManualClock(from_epoch_minute(end)))  # fmt: skip
    inner = _FlakyStore()
    batched = BatchedExplanations(inner)
    engine.explanations = batched
    (d,) = engine.decide(DecisionRequest(["a"]))
    assert isinstance(d, Decision)
    got = batched.get(d.decision_id)
    assert got is not None and got["decision_id"] == d.decision_id
    assert batched.flush() == 0 and batched.failures == 1  # the store is down: kept, retried
    inner.fail = False
    assert batched.flush() == 1
    assert inner.get(d.decision_id) == got
