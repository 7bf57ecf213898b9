"""The engine's refresh: a full fit first, then only recipients with new evidence."""

from __future__ import annotations

from datetime import timedelta

from sendflowr.clock import ManualClock
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.grid import from_epoch_minute
from sendflowr.timing.latency import HeuristicLatency
from sendflowr.timing.sources import MemorySource
from tests.unit.timing.synthetic import history


def test_first_refresh_is_a_full_fit_of_every_recipient() -> None:
    evidence, end = history({"a": (9,), "b": (18,), "c": (12, 13)}, weeks=4)
    clock = ManualClock(from_epoch_minute(end))
    engine = TimingEngine(MemorySource(evidence), MemoryExplanations(), HeuristicLatency(),
                          clock=clock)  # fmt: skip
    assert engine.fitted is None
    assert engine.refresh() == 3
    model = engine.fitted
    assert model is not None and model.universal_ids == ["a", "b", "c"]
    assert engine.curves() is model  # fresh: no refit
    clock.advance(timedelta(seconds=engine.refresh_seconds + 1))
    assert engine.refresh(full=True) == 3
