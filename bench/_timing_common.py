"""Shared by the timing benches: a temp home with the full generated history in chDB."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sendflowr.clock import ManualClock
from sendflowr.generator import default_world, generate_arrow, generate_truth
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from sendflowr.store.schema import quote_identifier
from sendflowr.timing.curves import CurveConfig
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import StoreExplanations
from sendflowr.timing.latency import LatencyModel
from sendflowr.timing.role import curve_config
from sendflowr.timing.sources import StoreSource
from sendflowr.timing.training import fit_latency, load_deliveries

__all__ = ["History", "load_history"]


class History:
    """A started store holding one generated history, its truth and a trained latency model."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.home = Path(tempfile.mkdtemp(prefix="sendflowr-bench-"))
        atexit.register(shutil.rmtree, self.home, True)
        self.settings = Settings(home=self.home, clickhouse_database="bench")
        self.store = ClickHouseStore(self.settings)
        self.world = default_world()
        self.truths: list[Any] = []
        self.latency: LatencyModel | None = None
        end = self.world.history.end
        #: "now" of every decision: the moment the history ends.
        self.now = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)

    def load(self) -> History:
        self.store.start()
        table = generate_arrow(self.world, self.seed)
        target = f"{quote_identifier(self.store.database)}.email_events"
        # Decode dictionary columns: chDB refuses Arrow dictionaries with repeated values.
        plain = table.cast(
            __import__("pyarrow").schema(
                [f.with_type(f.type.value_type) if hasattr(f.type, "value_type") else f
                 for f in table.schema]
            )
        )  # fmt: skip
        self.store.client.insert_arrow(target, plain)
        self.truths = generate_truth(self.world, self.seed)
        frame = load_deliveries(self.store, self.store.database)
        self.latency, self.report = fit_latency(frame, now=self.now)
        return self

    def engine(self, config: CurveConfig | None = None) -> TimingEngine:
        assert self.latency is not None
        return TimingEngine(
            StoreSource(self.store),
            StoreExplanations(self.store),
            self.latency,
            config=config or curve_config(self.settings),
            clock=ManualClock(self.now),
            refresh_seconds=1e12,
        )


def load_history(seed: int) -> History:
    """Generate the full history with ``seed`` into a fresh temp home and train latency."""
    return History(seed).load()
