"""A columnar block of generated events: numpy arrays, one row per event.

Blocks are what the simulation produces and what every sink consumes; no
per-event Python object exists until a sink needs one (JSON rows).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

__all__ = ["BOUNCE_TYPES", "EVENT_CODES", "EventBlock", "concat_blocks"]

#: event_type of each code in ``EventBlock.etype``.
EVENT_CODES: tuple[str, ...] = (
    "sent",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "site_visit",
    "sms_click",
    "product_view",
    "support_ticket",
    "complaint",
    "unsubscribe_request",
)
BOUNCE_TYPES: tuple[str, ...] = ("", "hard", "soft")

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class EventBlock:
    """Events as parallel arrays; -1 / NaN mark "not applicable"."""

    user: I64  # user index
    etype: I64  # index into EVENT_CODES
    ts: I64  # event time, epoch ms UTC
    send_seq: I64  # the user's send number (message id), -1 for signals
    campaign: I64
    provider: I64
    channel: I64  # index into CHANNEL_NAMES
    send_ms: I64  # send time of the message, -1 for signals
    latency: npt.NDArray[np.float64]  # seconds, NaN unless delivered
    queue: I64
    payload: I64
    bounce: I64  # index into BOUNCE_TYPES
    rand_hi: npt.NDArray[np.uint64]  # UUIDv7 random bits (seeded stream)
    rand_lo: npt.NDArray[np.uint64]

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: npt.ArrayLike) -> EventBlock:
        """Rows ``index`` (an int array, a slice-like mask or a bool mask)."""
        return EventBlock(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def head(self, n: int) -> EventBlock:
        """The first ``n`` rows."""
        return EventBlock(**{f.name: getattr(self, f.name)[:n] for f in fields(self)})


def concat_blocks(blocks: list[EventBlock]) -> EventBlock:
    """One block holding every row of ``blocks`` in order."""
    if not blocks:
        return empty_block()
    return EventBlock(
        **{f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(EventBlock)}
    )


def empty_block() -> EventBlock:
    """A block with no rows."""
    i = np.empty(0, dtype=np.int64)
    u = np.empty(0, dtype=np.uint64)
    return EventBlock(i, i, i, i, i, i, i, i, np.empty(0), i, i, i, u, u)
