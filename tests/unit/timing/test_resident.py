"""What the engine keeps per recipient once a fit is done (issue 18: resident memory).

The curve model's arrays and the source's zone columns are all that stays per
recipient; no Python object per recipient outlives a fit or a refresh. Measured
with ``tracemalloc`` (it counts Python objects and numpy's arrays), not RSS: the
same answer on every run.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np

from sendflowr.clock import ManualClock
from sendflowr.timing.aggregates import Engaged
from sendflowr.timing.curves import CurveConfig, Evidence
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.latency import HeuristicLatency
from sendflowr.timing.sources import StoreSource, subset

USERS = 3000
NOW = datetime(2026, 1, 12, tzinfo=UTC)
#: bytes a recipient's curve row may take (``CurveModel.nbytes``: 168 + 60 float32 factors,
#: 12 segment weights, counts and the id, ≈ 1 KB)
MODEL_BUDGET = 1_100
#: a recipient's zone: the id in an index, a zone and a source code, a confidence
ZONE_BUDGET = 40
#: anything else retained per recipient (the fixed parts of a fit spread over USERS)
SLACK = 32


class _ArraySource(StoreSource):
    """``StoreSource`` (zones chosen, inferred and kept as in production) over arrays
    instead of ClickHouse. Every read decodes fresh id strings, as a query's result does."""

    def __init__(self, evidence: Evidence, stored: dict[str, str]) -> None:
        super().__init__(cast(Any, None))
        self._ids = np.array([u.encode() for u in evidence.universal_ids])
        self._arrays = evidence
        self._stored_zones = stored
        self.version = 1
        #: what ``watch`` returned at each release of memory (the engine's, after a fit)
        self.released: list[object] = []
        self.watch: Any = None

    def _read(
        self, now_minute: int, universal_ids: Sequence[str] | None
    ) -> tuple[Evidence, Engaged]:
        ids = [bytes(u).decode() for u in self._ids]
        evidence = Evidence(
            universal_ids=ids,
            user_index=self._arrays.user_index,
            delivered_minute=self._arrays.delivered_minute,
            clicked=self._arrays.clicked,
            opened=self._arrays.opened,
        )
        if universal_ids is not None:
            evidence = subset(evidence, universal_ids)
        hit = evidence.clicked | evidence.opened
        return evidence, (evidence.user_index[hit], evidence.delivered_minute[hit] + 7)

    def stored_zones(
        self, now_minute: int, universal_ids: Sequence[str] | None = None
    ) -> dict[str, str]:
        wanted = None if universal_ids is None else set(universal_ids)
        return {
            u.encode().decode(): z
            for u, z in self._stored_zones.items()
            if wanted is None or u in wanted
        }

    def release_memory(self) -> None:
        self.released.append(self.watch() if self.watch is not None else None)

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        if watermark >= self.version:
            return [], watermark
        step = 0 if watermark == 0 else 10  # after the first: every tenth recipient
        ids = [bytes(u).decode() for u in self._ids[:: step or 1]]
        return ids, self.version


def _evidence(seed: int, users: int = USERS) -> tuple[Evidence, dict[str, str]]:
    """``users`` recipients, 60 deliveries each over 12 weeks; half with a stored zone."""
    rng = np.random.default_rng(seed)
    ids = [f"sf_{seed:04d}{i:012d}" for i in range(users)]
    user = np.repeat(np.arange(users, dtype=np.int64), 60)
    now = epoch_minute(NOW)
    minute = now - rng.integers(60, 12 * 7 * 1440, user.shape[0])
    clicked = rng.random(user.shape[0]) < 0.1 + 0.2 * ((minute % 1440) // 60 == user % 24)
    evidence = Evidence(
        ids, user, np.sort(minute), clicked, clicked | (rng.random(user.shape[0]) < 0.1)
    )
    zones = ("America/New_York", "Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata")
    return evidence, {u: zones[i % 4] for i, u in enumerate(ids) if i % 2}


def _engine(source: StoreSource, clock: ManualClock) -> TimingEngine:
    return TimingEngine(
        source,
        MemoryExplanations(),
        HeuristicLatency(),
        config=CurveConfig(),
        clock=clock,
        refresh_seconds=1e12,
    )


def _retained(call: Any) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    call()
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


def test_a_fit_and_a_refresh_keep_only_the_compact_rows_per_recipient() -> None:
    clock = ManualClock(NOW)
    warm = _engine(_ArraySource(*_evidence(1)), clock)  # module caches, lazy imports
    source = _ArraySource(*_evidence(2))
    engine = _engine(source, clock)
    tracemalloc.start()
    try:
        warm.curves(refresh=True)
        warm.refresh()
        fitted = _retained(lambda: engine.curves(refresh=True))
        source.version += 1
        refreshed = _retained(engine.refresh)
    finally:
        tracemalloc.stop()
    model = engine.fitted
    assert model is not None and len(model.universal_ids) == USERS
    zones = source._zones
    assert len(zones) == USERS and sum(c.source == "stored" for c in zones.values()) == USERS // 2
    assert model.nbytes / USERS <= MODEL_BUDGET
    assert zones.nbytes / USERS <= ZONE_BUDGET
    assert fitted / USERS <= (model.nbytes + zones.nbytes) / USERS + SLACK
    assert refreshed / USERS <= SLACK  # a refresh replaces rows; it keeps nothing more


def test_memory_is_released_after_the_replaced_model_is_freed() -> None:
    """A refresh's release of freed memory must come after the old model's arrays are
    freed: released before, they would stay resident until the next fit."""
    clock = ManualClock(NOW)
    source = _ArraySource(*_evidence(3, users=300))
    engine = _engine(source, clock)
    engine.curves(refresh=True)
    old = engine.fitted
    assert old is not None
    source.watch = weakref.ref(old)
    del old
    source.version += 1
    assert engine.refresh() > 0
    assert source.released[-1] is None  # the old model was gone when memory was released
    source.watch = weakref.ref(engine.fitted)
    engine.curves(refresh=True)  # a full fit: the same
    assert source.released[-1] is None
