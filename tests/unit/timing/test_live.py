"""Live context in memory: dedup, windows, permanence; the source contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sendflowr.timing.live import LiveContexts, LiveSource, Signal
from sendflowr.timing.schedules import Schedule
from sendflowr.timing.sources import MemorySource, evidence_from_rows

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
