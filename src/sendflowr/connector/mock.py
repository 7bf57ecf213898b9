"""Mock events for ``POST /api/mock/events/generate?count=N``: the generator's model.

``sendflowr.generator.sample_events(count, seed)`` makes realistic events of the
shipped world (raw addresses included, as a sender would post them); ``source``
in the answer names what produced them.
"""

from __future__ import annotations

from sendflowr.events import IncomingEvent
from sendflowr.generator import sample_events

__all__ = ["generate_mock_events"]


def generate_mock_events(count: int, seed: int) -> tuple[list[IncomingEvent], str]:
    """``count`` events of the generator's model for ``seed``, and ``"generator"``."""
    return sample_events(count, seed)[:count], "generator"
