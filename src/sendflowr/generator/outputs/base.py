"""The output contract (``open``/``write``/``close``) and the dry-run output.

An output receives columnar ``EventBlock``s in order and reports how many events
it delivered; ``failed`` counts events it gave up on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sendflowr.generator.block import EventBlock

__all__ = ["DryRunOutput", "Output", "OutputStats"]


@dataclass(slots=True)
class OutputStats:
    """What an output did: events handed to it, acknowledged, and given up on."""

    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0


class Output(Protocol):
    """Where generated events go."""

    name: str
    stats: OutputStats

    def open(self) -> None:
        """Connect or create the output (no I/O happens before this)."""

    def write(self, block: EventBlock) -> None:
        """Hand over a block of events (may be sent asynchronously)."""

    def close(self) -> None:
        """Flush everything still in flight and release resources."""


class DryRunOutput:
    """``--dry-run``: counts events and publishes nothing."""

    name = "dry-run"

    def __init__(self) -> None:
        self.stats = OutputStats()

    def open(self) -> None:
        """Nothing to open."""

    def write(self, block: EventBlock) -> None:
        """Count the block."""
        self.stats.sent += len(block)

    def close(self) -> None:
        """Nothing to close."""
