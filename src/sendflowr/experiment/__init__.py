"""The closed-loop experiment: the same simulated people, randomised into arms.

Each campaign send of the simulated weeks after a warm-up history is assigned,
seeded, to one arm — *fixed* (the campaign's scheduled time), *hourly* (the
recipient's best hour from history at :00), *sendflowr* (the engine's decision
through the inference API) or *oracle* (the truth model's best minute) — and
what it earns comes from the generator's behaviour model at the time the arm
chose, never from the engine.

- ``design``: the world split into warm-up and schedule; the arm assignment;
- ``responses``: a send's outcome from the behaviour model;
- ``strategies``: how each arm decides;
- ``loop``: simulated days in steps, events fed back as they happen;
- ``results``: figures with bootstrap intervals over recipients;
- ``stack``: the real flow in-process (connector → Kafka → sink → ClickHouse,
  inference on the simulation's clock).
"""

from __future__ import annotations

from sendflowr.experiment.design import ARMS, Design, Schedule, assign_arms, build_design
from sendflowr.experiment.loop import Feed, MemoryFeed, Run, run_loop
from sendflowr.experiment.responses import Outcomes, Responder
from sendflowr.experiment.results import summarise
from sendflowr.experiment.strategies import (
    EngagementHistory,
    EngineStrategy,
    FixedStrategy,
    HourlyStrategy,
    OracleStrategy,
    RandomStrategy,
    Strategy,
)

__all__ = [
    "ARMS",
    "Design",
    "EngagementHistory",
    "EngineStrategy",
    "Feed",
    "FixedStrategy",
    "HourlyStrategy",
    "MemoryFeed",
    "OracleStrategy",
    "Outcomes",
    "RandomStrategy",
    "Responder",
    "Run",
    "Schedule",
    "Strategy",
    "assign_arms",
    "build_design",
    "run_loop",
    "summarise",
]
