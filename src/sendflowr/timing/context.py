"""Context modifiers: ``P_final(t) = P_base(t) · Π(1 + ω_i(t))`` (docs/engine.md).

- hot path (site_visit, sms_click, product_view): ω = e^(−minutes/15) for a
  delivery up to 30 minutes after the event, 0 afterwards — twice as likely at
  once, fading to no boost;
- campaign fatigue: sends in the 24 h before the delivery (0 → 1.0, 1 → 0.95,
  2 → 0.85, 3+ → 0.60), ω = factor − 1;
- circuit breaker: ω = −1 while a suppression is active (support_ticket and
  complaint 48 h, unsubscribe_request 168 h; unsubscribed and marked_spam for
  good). Because the weights multiply, −1 forces zero whatever else applies.

Times are epoch minutes (see ``grid``); arrays cover a window's candidates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Final

import numpy as np
import numpy.typing as npt

from sendflowr.errors import SuppressedError
from sendflowr.events import PERMANENT_SUPPRESSION_TYPES
from sendflowr.timing.grid import from_epoch_minute
from sendflowr.timing.params import DEFAULT_PARAMS

__all__ = [
    "FATIGUE_FACTORS",
    "FATIGUE_WINDOW_MINUTES",
    "HOT_PATH_HORIZON_MINUTES",
    "Context",
    "Suppression",
    "Weights",
    "apply_modifiers",
    "batch_weights",
    "breaker_weights",
    "fatigue_weights",
    "hot_path_weights",
    "modifier_span",
    "raise_if_blocked",
    "suppression_block",
    "suppressions_from_events",
]

# The world file's numbers (``timing.params``), not restated here.
HOT_PATH_HORIZON_MINUTES: Final = DEFAULT_PARAMS.hot_path_window_minutes
HOT_PATH_DECAY_MINUTES: Final = DEFAULT_PARAMS.hot_path_decay_minutes
#: Engagement multiplier by the number of sends in the previous 24 h (the last applies to 3+).
FATIGUE_FACTORS: Final = DEFAULT_PARAMS.fatigue_factors
FATIGUE_WINDOW_MINUTES: Final = round(DEFAULT_PARAMS.fatigue_window_hours * 60)
#: fatigue ω by the number of sends counted
_FATIGUE_OMEGA: Final = np.asarray(FATIGUE_FACTORS) - 1.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Suppression:
    """A circuit breaker: no delivery in ``[start, end)`` epoch minutes; ``end=None`` = forever."""

    reason: str
    start: int
    end: int | None

    def covers(self, minutes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of ``minutes`` this suppression blocks."""
        inside = minutes >= self.start
        return inside if self.end is None else inside & (minutes < self.end)


@dataclass
class Context:
    """What is known right now about one recipient beyond the base curve."""

    hot_paths: list[int] = field(default_factory=list)
    recent_sends: list[int] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when no modifier can apply."""
        return not (self.hot_paths or self.recent_sends or self.suppressions)


def suppressions_from_events(events: list[tuple[str, int]]) -> list[Suppression]:
    """Suppressions from ``(event_type, epoch_minute)`` circuit-breaker events."""
    out = []
    for event_type, minute in events:
        if event_type in PERMANENT_SUPPRESSION_TYPES:
            out.append(Suppression(event_type, minute, None))
        elif event_type in DEFAULT_PARAMS.suppression_hours:
            hours = DEFAULT_PARAMS.suppression_hours[event_type]
            out.append(Suppression(event_type, minute, minute + round(hours * 60)))
    return out


def apply_modifiers(
    base: FloatArray, minutes: npt.NDArray[np.int64], context: Context
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """``base · Π(1 + ω_i)`` over ``minutes``, and each non-zero ω_i by name."""
    weights: dict[str, FloatArray] = {}
    if context.hot_paths:
        omega = np.zeros(minutes.shape[0])
        for at in context.hot_paths:
            since = (minutes - at).astype(np.float64)
            live = (since >= 0) & (since <= HOT_PATH_HORIZON_MINUTES)
            omega = np.maximum(omega, np.where(live, np.exp(-since / HOT_PATH_DECAY_MINUTES), 0.0))
        if omega.any():
            weights["hot_path"] = omega
    if context.recent_sends:
        sends = np.sort(np.asarray(context.recent_sends, dtype=np.int64))
        count = np.searchsorted(sends, minutes, side="right") - np.searchsorted(
            sends, minutes - FATIGUE_WINDOW_MINUTES, side="right"
        )
        factors = np.asarray(FATIGUE_FACTORS)[np.minimum(count, len(FATIGUE_FACTORS) - 1)]
        if (factors != 1.0).any():
            weights["fatigue"] = factors - 1.0
    blocked = np.zeros(minutes.shape[0], dtype=bool)
    for s in context.suppressions:
        blocked |= s.covers(minutes)
    if blocked.any():
        weights["circuit_breaker"] = np.where(blocked, -1.0, 0.0)
    final = base.copy()
    for omega in weights.values():
        final *= 1.0 + omega
    return final, weights


@dataclass(frozen=True)
class Weights:
    """One modifier's ω for some recipients of a batch, over one span of the window."""

    name: str
    #: the recipients with this kind of context (indices into the batch's contexts)
    rows: npt.NDArray[np.intp]
    #: the candidates ``[start, end)`` the ω cover; every ω is 0 outside them
    start: int
    end: int
    #: ``(len(rows), end − start)``; a row may be all 0 (no ω of this kind applies there)
    omega: FloatArray


def batch_weights(contexts: Sequence[Context], minutes: npt.NDArray[np.int64]) -> list[Weights]:
    """The ω of many recipients' modifiers at once, in ``apply_modifiers``' order.

    ``minutes``: ascending (a window's candidates). Row k of a kind's ω is the ω
    ``apply_modifiers`` gives ``contexts[rows[k]]`` over ``minutes[start:end]`` (0
    where it gives none); ``P *= 1 + ω`` kind by kind, in float32 as there, gives its
    ``P_final``. Each kind's span is the union of its recipients' ``modifier_span`` parts.
    """
    out: list[Weights] = []
    hot = [k for k, c in enumerate(contexts) if c.hot_paths]
    if hot:
        events = [contexts[k].hot_paths for k in hot]
        reach = math.floor(HOT_PATH_HORIZON_MINUTES) + 1
        start, end = _covering(minutes, min(map(min, events)), max(map(max, events)) + reach)
        omega = hot_path_weights(events, minutes[start:end])
        out.append(Weights("hot_path", np.asarray(hot, dtype=np.intp), start, end, omega))
    sent = [k for k, c in enumerate(contexts) if c.recent_sends]
    if sent:
        sends = [contexts[k].recent_sends for k in sent]
        if FATIGUE_FACTORS[0] != 1.0:  # even no send in the last 24 h would weigh
            start, end = 0, minutes.shape[0]
        else:
            last = max(map(max, sends)) + FATIGUE_WINDOW_MINUTES
            start, end = _covering(minutes, min(map(min, sends)), last)
        omega = fatigue_weights(sends, minutes[start:end])
        out.append(Weights("fatigue", np.asarray(sent, dtype=np.intp), start, end, omega))
    held = [k for k, c in enumerate(contexts) if c.suppressions]
    if held:
        breakers = [contexts[k].suppressions for k in held]
        first = min(s.start for b in breakers for s in b)
        last = max(_FOREVER if s.end is None else s.end for b in breakers for s in b)
        start, end = _covering(minutes, first, last)
        omega = breaker_weights(breakers, minutes[start:end])
        out.append(Weights("circuit_breaker", np.asarray(held, dtype=np.intp), start, end, omega))
    return out


def _covering(minutes: npt.NDArray[np.int64], first: int, end: int) -> tuple[int, int]:
    """The candidates ``[start, stop)`` of ascending ``minutes`` inside ``[first, end)``."""
    start, stop = np.searchsorted(minutes, [first, end]).tolist()
    return int(start), max(int(start), int(stop))


def hot_path_weights(hot_paths: list[list[int]], minutes: npt.NDArray[np.int64]) -> FloatArray:
    """Hot-path ω of several recipients over ``minutes`` ``(len(hot_paths), len(minutes))``.

    Row ``k`` equals the ω ``apply_modifiers`` gives for hot paths ``hot_paths[k]``
    (0 where none applies): the same e^(−minutes/decay), read from a table by whole
    minutes since the event.
    """
    table = _hot_path_table()
    at = _padded(hot_paths, -_FOREVER)  # a padding event no minute follows closely
    omega = np.zeros((len(hot_paths), minutes.shape[0]))
    for j in range(at.shape[1]):
        since = minutes - at[:, j : j + 1]
        live = (since >= 0) & (since < table.shape[0])
        omega = np.maximum(omega, np.where(live, table[np.where(live, since, 0)], 0.0))
    return omega


def _hot_path_table() -> FloatArray:
    """Hot-path ω by whole minutes since the event (0 … horizon), as ``apply_modifiers``
    computes it."""
    since = np.arange(math.floor(HOT_PATH_HORIZON_MINUTES) + 1).astype(np.float64)
    table: FloatArray = np.exp(-since / HOT_PATH_DECAY_MINUTES)
    return table


def fatigue_weights(recent_sends: list[list[int]], minutes: npt.NDArray[np.int64]) -> FloatArray:
    """Fatigue ω of several recipients over ``minutes`` ``(len(recent_sends), len(minutes))``.

    Row ``k`` equals the ω ``apply_modifiers`` gives for sends ``recent_sends[k]``
    (0 where no send counts). ``minutes`` ascending (a window's candidates).
    """
    sent = np.fromiter(chain.from_iterable(recent_sends), np.int64)
    # A send counts at the minutes in [sent, sent + window): one slice each.
    first = np.searchsorted(minutes, sent).tolist()
    past = np.searchsorted(minutes, sent + FATIGUE_WINDOW_MINUTES).tolist()
    count = np.zeros((len(recent_sends), minutes.shape[0]), dtype=np.intp)  # the fast index
    j = 0
    for k, sends in enumerate(recent_sends):
        for _ in sends:
            count[k, first[j] : past[j]] += 1
            j += 1
    np.minimum(count, len(FATIGUE_FACTORS) - 1, out=count)  # 3+ sends weigh as 3
    omega: FloatArray = _FATIGUE_OMEGA[count]
    return omega


def breaker_weights(
    suppressions: list[list[Suppression]], minutes: npt.NDArray[np.int64]
) -> FloatArray:
    """Circuit-breaker ω of several recipients over ``minutes``: −1 where any of theirs covers."""
    start = _padded([[s.start for s in ss] for ss in suppressions], _FOREVER)  # never covers
    ends = [[_FOREVER if s.end is None else s.end for s in ss] for ss in suppressions]
    end = _padded(ends, _FOREVER)
    blocked = np.zeros((len(suppressions), minutes.shape[0]), dtype=bool)
    for j in range(start.shape[1]):
        blocked |= (minutes >= start[:, j : j + 1]) & (minutes < end[:, j : j + 1])
    omega: FloatArray = np.where(blocked, -1.0, 0.0)
    return omega


def _padded(lists: list[list[int]], fill: int) -> npt.NDArray[np.int64]:
    """``lists`` as one ``(len(lists), longest)`` array, short rows padded with ``fill``."""
    width = max((len(v) for v in lists), default=0)
    out = np.full((len(lists), width), fill, dtype=np.int64)
    for k, v in enumerate(lists):
        out[k, : len(v)] = v
    return out


def modifier_span(context: Context) -> tuple[int, int] | None:
    """Epoch minutes ``[start, end)`` outside which every ω of ``context`` is 0.

    Outside the span ``apply_modifiers`` leaves the base curve as it is, so a
    window's modifiers only need evaluating on the span. None: no modifier can apply.
    """
    starts: list[int] = []
    ends: list[int] = []
    for at in context.hot_paths:  # ω > 0 only while 0 ≤ minutes since ≤ horizon
        starts.append(at)
        ends.append(at + math.floor(HOT_PATH_HORIZON_MINUTES) + 1)
    if context.recent_sends:
        if FATIGUE_FACTORS[0] != 1.0:  # even no send in the last 24 h would weigh
            return -_FOREVER, _FOREVER
        for sent in context.recent_sends:  # counted while sent ≤ minute < sent + window
            starts.append(sent)
            ends.append(sent + FATIGUE_WINDOW_MINUTES)
    for s in context.suppressions:
        starts.append(s.start)
        ends.append(_FOREVER if s.end is None else s.end)
    if not starts:
        return None
    return min(starts), max(ends)


_FOREVER: Final = 1 << 62


def suppression_block(
    suppressions: list[Suppression], start: int, end: int
) -> tuple[Suppression, int | None] | None:
    """If every minute of ``[start, end)`` is suppressed: (the breaker, minute the block ends).

    The block's end follows overlapping breakers past ``end``; None = forever.
    Returns None when at least one minute of the window is free.
    """
    t = start
    blocking: Suppression | None = None
    while True:
        active = [s for s in suppressions if s.start <= t and (s.end is None or t < s.end)]
        if not active:
            return (blocking, t) if blocking is not None and t >= end else None
        permanent = [s for s in active if s.end is None]
        if permanent:
            return permanent[0], None
        blocking = max(active, key=lambda s: s.end or 0)
        assert blocking.end is not None
        t = blocking.end


def raise_if_blocked(suppressions: list[Suppression], start: int, end: int) -> None:
    """Raise SuppressedError (→ HTTP 409) when the whole window is suppressed."""
    found = suppression_block(suppressions, start, end)
    if found is not None:
        blocking, until = found
        raise SuppressedError(
            blocking.reason, from_epoch_minute(until) if until is not None else None
        )
