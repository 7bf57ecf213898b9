"""A fault hook for crash tests: ``SENDFLOWR_SINK_FAULT=<point>:<n>`` SIGKILLs the process
the n-th time the sink reaches ``<point>``.

Points: ``after-intent`` (intents committed, nothing inserted yet) and
``after-insert`` (a chunk inserted into ClickHouse, its offsets not committed).
Never set it in production.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from sendflowr.errors import ConfigError

__all__ = ["POINTS", "FaultHook"]

POINTS = ("after-intent", "after-insert")


@dataclass
class FaultHook:
    """Kills the process at the n-th hit of ``point``; a hook with no point does nothing."""

    point: str | None = None
    at: int = 0
    hits: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> FaultHook:
        """``"after-insert:3"`` → a hook; None or "" → a no-op hook."""
        if not spec:
            return cls()
        point, _, count = spec.partition(":")
        if point not in POINTS or not count.isdigit() or int(count) < 1:
            raise ConfigError(
                f"expected one of {', '.join(POINTS)} followed by :N (N ≥ 1), got {spec!r}",
                option="SENDFLOWR_SINK_FAULT",
            )
        return cls(point, int(count))

    def hit(self, point: str) -> None:
        """Count a pass through ``point``; SIGKILL this process on the configured hit."""
        if point != self.point:
            return
        self.hits += 1
        if self.hits == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
