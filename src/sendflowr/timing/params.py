"""The engine's model numbers, read from the world file (the one place they live).

Latency caps, suppression windows, the hot-path window and decay and the fatigue
multipliers are behaviour constants of ``resources/world.json``
(docs/behaviour-model.md); the engine takes them from there instead of restating
them. ``ModelParams.from_world`` turns a validated ``World`` into the engine's
parameter set; ``DEFAULT_PARAMS`` is the shipped world's.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sendflowr.errors import ConfigError
from sendflowr.generator.world import World, default_world

__all__ = ["DEFAULT_PARAMS", "ModelParams"]


@dataclass(frozen=True)
class ModelParams:
    """The world's numbers the engine uses; validated on construction.

    ``latency_caps``: most seconds a delivery takes, per channel;
    ``suppression_hours``: window of each circuit breaker type;
    ``hot_path_window_minutes`` / ``hot_path_decay_minutes``: a delivery up to the
    window after a hot-path event gets ω = e^(−minutes/decay);
    ``fatigue_window_hours`` / ``fatigue_factors``: engagement multiplier by the
    number of sends in the window before a delivery (the last applies to more).
    """

    latency_caps: MappingProxyType[str, float]
    suppression_hours: MappingProxyType[str, float]
    hot_path_window_minutes: int
    hot_path_decay_minutes: float
    fatigue_window_hours: float
    fatigue_factors: tuple[float, ...]

    def __post_init__(self) -> None:
        checks = {
            "latency.caps": all(v > 0 for v in self.latency_caps.values()),
            "circuit_breakers.hours": all(v > 0 for v in self.suppression_hours.values()),
            "hot_paths.window_minutes": self.hot_path_window_minutes > 0,
            "hot_paths.decay_minutes": self.hot_path_decay_minutes > 0,
            "fatigue.window_hours": self.fatigue_window_hours > 0,
            "fatigue.multipliers": bool(self.fatigue_factors)
            and all(f >= 0 for f in self.fatigue_factors),
        }
        for where, ok in checks.items():
            if not ok:
                raise ConfigError(f"{where}: out of range for the timing engine", option="--world")

    @classmethod
    def from_world(cls, world: World) -> ModelParams:
        """The engine's parameters of ``world``."""
        return cls(
            latency_caps=MappingProxyType({k: float(v) for k, v in world.latency.caps.items()}),
            suppression_hours=MappingProxyType(
                {k: float(v) for k, v in world.circuit_breakers.hours.items()}
            ),
            hot_path_window_minutes=int(world.hot_paths.window_minutes),
            hot_path_decay_minutes=float(world.hot_paths.decay_minutes),
            fatigue_window_hours=float(world.fatigue.window_hours),
            fatigue_factors=tuple(float(f) for f in world.fatigue.multipliers),
        )

    def cap(self, channel: str) -> float:
        """The latency cap of ``channel`` (the largest cap for an unknown one)."""
        return self.latency_caps.get(channel, max(self.latency_caps.values()))


#: The shipped world's parameters.
DEFAULT_PARAMS: Final = ModelParams.from_world(default_world())
