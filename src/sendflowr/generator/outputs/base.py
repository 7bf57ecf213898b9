"""The sink contract (``open``/``write``/``close``) and the dry-run sink.

A sink receives columnar ``EventBlock``s in order and reports how many events
it delivered; ``failed`` counts events it gave up on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sendflowr.generator.block import EventBlock

__all__ = ["DrySink", "Sink", "SinkStats"]


@dataclass(slots=True)
class SinkStats:
    """What a sink did: events handed to it, acknowledged, and given up on."""

    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0


class Sink(Protocol):
    """Where generated events go."""

    name: str
    stats: SinkStats

    def open(self) -> None:
        """Connect or create the output (no I/O happens before this)."""

    def write(self, block: EventBlock) -> None:
        """Hand over a block of events (may be sent asynchronously)."""

    def close(self) -> None:
        """Flush everything still in flight and release resources."""


class DrySink:
    """``--dry-run``: counts events and publishes nothing."""

    name = "dry-run"

    def __init__(self) -> None:
        self.stats = SinkStats()

    def open(self) -> None:
        """Nothing to open."""

    def write(self, block: EventBlock) -> None:
        """Count the block."""
        self.stats.sent += len(block)

    def close(self) -> None:
        """Nothing to close."""
