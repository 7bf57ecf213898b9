"""Revisions: live signals change pending schedules.

- a permanent suppression (``unsubscribed``, ``marked_spam``) cancels every pending
  schedule of the recipient;
- a circuit breaker (``complaint``, ``support_ticket``, ``unsubscribe_request``) whose
  suppression covers a schedule's target cancels it, or — when the caller chose
  ``on_breaker="move"`` and the window still has room after the suppression — moves
  it to the first minute after the suppression;
- a hot path pulls a schedule forward into the boost window (the next minute, up to
  30 minutes after the signal) when that beats the current target:
  ``score(boosted minute) · (1 + e^(−Δ/15)) > score(current target)``, where
  ``score`` is the recipient's base curve on its curve clock (``engine_scorer``; every
  minute scores alike without one).

Each revision goes through ``ScheduleBook.revise``: published on
``schedule-revisions`` with its explanation, and stored as the schedule's state.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from confluent_kafka import KafkaException

from sendflowr.clock import Clock
from sendflowr.errors import KafkaUnavailable
from sendflowr.events import CIRCUIT_BREAKER_TYPES, HOT_PATH_TYPES, PERMANENT_SUPPRESSION_TYPES
from sendflowr.kafka.clients import producer_config
from sendflowr.kafka.publish import KafkaProducer
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from sendflowr.timing.context import (
    HOT_PATH_DECAY_MINUTES,
    HOT_PATH_HORIZON_MINUTES,
    suppressions_from_events,
)
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import ExplanationStore
from sendflowr.timing.grid import epoch_minute, from_epoch_minute, slots_of_minutes
from sendflowr.timing.live import (
    BatchedExplanations,
    LiveContexts,
    LiveFollower,
    LiveSource,
    Signal,
)
from sendflowr.timing.schedules import Schedule, ScheduleBook, ScheduleTopics
from sendflowr.timing.sources import EventSource
from sendflowr.timing.zones import to_wall_minutes

__all__ = ["LiveService", "Reviser", "Scorer", "engine_scorer"]

_log = logging.getLogger("sendflowr.timing.live")

#: ``(universal_id, epoch minutes) → base-curve score of each minute``.
Scorer = Callable[[str, list[int]], list[float]]


class Reviser:
    """Turns each live signal into revisions of the recipient's pending schedules."""

    def __init__(self, book: ScheduleBook, score: Scorer | None = None) -> None:
        self.book = book
        self.score = score
        self.revised = 0

    def __call__(self, signal: Signal) -> None:
        """Revise the recipient's pending schedules for ``signal`` (a ``LiveFollower`` listener)."""
        pending = self.book.pending_of(signal.universal_id)
        if not pending:
            return
        if signal.event_type in PERMANENT_SUPPRESSION_TYPES:
            for s in pending:
                self._revise(s, "cancelled", signal, "permanent suppression")
        elif signal.event_type in CIRCUIT_BREAKER_TYPES:
            for s in pending:
                self._breaker(s, signal)
        elif signal.event_type in HOT_PATH_TYPES:
            for s in pending:
                self._hot_path(s, signal)

    def _revise(self, s: Schedule, kind: str, signal: Signal, reason: str, **extra: object) -> None:
        explanation = {
            "reason": reason,
            "signal": signal.event_type,
            "signal_minute": signal.minute,
            "signal_event_id": signal.event_id,
            "previous_target_at": self.book.get(s.schedule_id).target_at.isoformat(),
            **extra,
        }
        self.book.revise(s, kind, explanation)
        self.revised += 1

    def _breaker(self, s: Schedule, signal: Signal) -> None:
        (suppression,) = suppressions_from_events([(signal.event_type, signal.minute)])
        target = epoch_minute(s.target_at)
        if not (
            suppression.start <= target and (suppression.end is None or target < suppression.end)
        ):
            return
        if s.on_breaker == "move" and suppression.end is not None:
            new_target = from_epoch_minute(suppression.end)
            if new_target < s.window_end:
                self._revise(
                    _moved(s, new_target), "moved", signal, "moved past the suppression",
                    suppressed_until=new_target.isoformat(),
                )  # fmt: skip
                return
        self._revise(s, "cancelled", signal, f"circuit breaker: {signal.event_type}")

    def _hot_path(self, s: Schedule, signal: Signal) -> None:
        now = self.book.clock.now()
        lead = s.target_at - s.trigger_at
        earliest = max(
            signal.minute + 1, epoch_minute(now + lead) + 1, epoch_minute(s.window_start)
        )
        target = epoch_minute(s.target_at)
        if earliest > signal.minute + HOT_PATH_HORIZON_MINUTES or earliest >= target:
            return  # the boost window is over, or the schedule already fires inside it
        if from_epoch_minute(earliest) >= s.window_end:
            return
        boost = 1.0 + math.exp(-(earliest - signal.minute) / HOT_PATH_DECAY_MINUTES)
        base_new, base_now = (
            self.score(s.universal_id, [earliest, target]) if self.score else [1.0, 1.0]
        )
        if base_new * boost <= base_now:
            return
        self._revise(
            _moved(s, from_epoch_minute(earliest)), "pulled_forward", signal,
            "hot path: the boost window beats the current slot",
            boost=round(boost, 4), score_before=base_now, score_after=round(base_new * boost, 6),
        )  # fmt: skip


def _moved(s: Schedule, target: datetime) -> Schedule:
    lead: timedelta = s.target_at - s.trigger_at
    return replace(s, target_at=target, trigger_at=target - lead)


def engine_scorer(engine: TimingEngine) -> Scorer:
    """A ``Scorer`` over the engine's fitted base curves, read on each recipient's
    curve clock (its known zone, else UTC); before the first fit every minute scores 1."""

    def score(universal_id: str, minutes: list[int]) -> list[float]:
        model = engine.fitted
        if model is None:
            return [1.0] * len(minutes)
        curve = model.curves(model.rows([universal_id]))[0]
        zone_of = getattr(engine.source, "zone_of", None)
        zone = zone_of(universal_id) if zone_of is not None else None
        local = to_wall_minutes(minutes, zone.curve_clock) if zone is not None else minutes
        return [float(v) for v in curve[slots_of_minutes(local)]]

    return score


class LiveService:
    """The inference role's live parts, started together: the followed stream
    (``LiveFollower`` → ``LiveContexts``), the held schedules (``ScheduleBook``),
    revisions on each signal (``Reviser``) and batched explanations.

    If Kafka cannot be reached at start the engine falls back to its store source
    (context read per request; no held schedules) and says so in the log.
    """

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.contexts = LiveContexts()
        self.follower: LiveFollower | None = None
        self.book: ScheduleBook | None = None
        self.batched: BatchedExplanations | None = None
        self.reviser: Reviser | None = None

    def score_with(self, engine: TimingEngine) -> TimingEngine:
        """Let hot-path revisions compare slots on ``engine``'s base curves; returns it."""
        if self.reviser is not None:
            self.reviser.score = engine_scorer(engine)
        return engine

    def start(
        self, store_source: EventSource, store: ClickHouseStore, attempts: int = 5
    ) -> EventSource:
        """Start following and firing; return the engine's source. A Kafka error at start
        (a topic just created, a leader not elected yet) is retried ``attempts`` times,
        a second apart, before falling back to the store source. Starting again (the app's
        lifespan run a second time) first stops what the last start started."""
        self.stop()  # else the last start's consumer, producer and threads would run on, unowned
        bootstrap = self.settings.kafka_bootstrap_servers
        topics = ScheduleTopics.for_events_topic(self.settings.topic)
        for attempt in range(1, attempts + 1):
            book = ScheduleBook(KafkaProducer(producer_config(self.settings)), bootstrap,
                                topics=topics, clock=self.clock)  # fmt: skip
            follower = LiveFollower(self.settings, self.contexts, store=store, clock=self.clock)
            reviser = Reviser(book)
            # before start: signals of the rebuild (a complaint while this process was down)
            # revise the recovered schedules too
            follower.listen(reviser)
            try:
                book.start()
                follower.start()
            except (KafkaUnavailable, KafkaException) as exc:
                follower.stop()
                book.stop()
                if attempt == attempts:
                    _log.warning("live context unavailable, context from the store: %s", exc)
                    return store_source
                _log.info("starting the live context failed (attempt %d): %s", attempt, exc)
                time.sleep(1.0)
                continue
            break
        self.reviser = reviser
        self.book, self.follower = book, follower
        return LiveSource(store_source, self.contexts, book)

    def explanations(self, inner: ExplanationStore) -> ExplanationStore:
        """``inner`` behind a batching writer (started here; one made before is stopped)."""
        if self.batched is not None:
            self.batched.stop()
        self.batched = BatchedExplanations(inner)
        self.batched.start()
        return self.batched

    def stop(self) -> None:
        """Stop following, firing and writing explanations (again: nothing left to stop)."""
        parts = (self.follower, self.book, self.batched)
        self.follower = self.book = self.batched = self.reviser = None
        for part in parts:
            if part is not None:
                part.stop()
