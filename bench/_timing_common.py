"""Shared by the timing benches: a temp home with the full generated history in chDB."""

from __future__ import annotations

import argparse
import atexit
import itertools
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sendflowr.clock import ManualClock
from sendflowr.errors import ConfigError
from sendflowr.generator import default_world, generate_truth, load_world, model_for
from sendflowr.generator.outputs.store import StoreOutput
from sendflowr.generator.run import Plan, run
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

__all__ = ["History", "load_history", "parse_seeds", "world_option"]

_RUNS = itertools.count()
_HOME: list[Path] = []


def _home() -> Path:
    """The run's temp SENDFLOWR_HOME (created once, removed at exit)."""
    if not _HOME:
        _HOME.append(Path(tempfile.mkdtemp(prefix="sendflowr-bench-")))
        atexit.register(shutil.rmtree, _HOME[0], True)
    return _HOME[0]


class History:
    """A started store holding one generated history, its truth and a trained latency model."""

    def __init__(
        self, seed: int, world: Path | None = None, decided_after_days: float = 0.0
    ) -> None:
        self.seed = seed
        self.home = _home()
        # One chDB engine per process: every history of a run shares the home, one database each.
        self.settings = Settings(home=self.home, clickhouse_database=f"bench{seed}_{next(_RUNS)}")
        self.store = ClickHouseStore(self.settings)
        self.world = load_world(world) if world is not None else default_world()
        self.truths: list[Any] = []
        self.latency: LatencyModel | None = None
        end = self.world.history.end
        #: "now" of every decision: the day after the history ends, plus ``decided_after_days``.
        self.ended = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        self.now = self.ended + timedelta(days=decided_after_days)

    def load(self) -> History:
        self.store.start()
        # Streamed, one ~50,000-event Arrow insert at a time: the whole history as one table
        # (and its decoded copy) is what made one process hold ~20 GB at 35,000 users.
        model = model_for(self.world)
        history = self.world.history
        run(Plan(model, self.seed, history.start, history.end), StoreOutput(model, self.store))
        self.truths = generate_truth(self.world, self.seed)
        frame = load_deliveries(self.store, self.store.database)
        self.latency, self.report = fit_latency(frame, now=self.ended)
        return self

    def drop(self) -> None:
        """Drop this history's database (several seeds in one process)."""
        self.store.command(f"DROP DATABASE IF EXISTS {quote_identifier(self.store.database)}")

    def engine(
        self, config: CurveConfig | None = None, now: datetime | None = None
    ) -> TimingEngine:
        """An engine over this history whose clock stands at ``now`` (default ``self.now``)."""
        assert self.latency is not None
        at = now or self.now
        return TimingEngine(
            StoreSource(self.store),
            StoreExplanations(self.store),
            self.latency,
            config=config or curve_config(self.settings),
            clock=ManualClock(at),
            refresh_seconds=1e12,
        )


def world_option(value: str) -> Path:
    """``type=`` of a bench's ``--world``: the path of a valid world file, or a usage error
    saying what is wrong with it (a missing field, a bad value, no such file)."""
    path = Path(value)
    try:
        load_world(path)
    except (ConfigError, OSError) as exc:
        raise argparse.ArgumentTypeError(
            exc.reason if isinstance(exc, ConfigError) else str(exc)
        ) from None
    return path


def parse_seeds(text: str) -> list[int]:
    """``"1-20"``, ``"1,4,9"`` or ``"1-5,42"`` → the seeds (an argparse ``type``: a bad
    list is a usage error saying what is wrong)."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            seeds = range(int(lo), int(hi) + 1) if hi else [int(lo)]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part.strip()!r} is not a seed or a range like 1-20"
            ) from None
        if not seeds:
            raise argparse.ArgumentTypeError(f"the range {part.strip()!r} is empty")
        out.extend(seeds)
    return out


def load_history(seed: int, world: Path | None = None, decided_after_days: float = 0.0) -> History:
    """Generate the full history of ``world`` (default: the shipped one) with ``seed`` into a
    fresh temp home and train latency; decisions are made ``decided_after_days`` after the
    day following the history's end."""
    return History(seed, world, decided_after_days).load()
