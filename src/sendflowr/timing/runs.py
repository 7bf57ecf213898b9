"""A decision window as runs of minutes: best minutes of factored curves without dense arrays.

A base curve is ``hours[s // 60] * minutes[s % 60] + floor`` in float32
(``CurveModel.factors``, what ``CurveModel.window`` evaluates). A window's
candidate minutes fall into *runs*: consecutive week slots inside one hour of the
week (a week is ~170 runs; quiet hours, DST changes and the window's edges cut
more). Inside a run the hour factor is fixed, and float32 rounding is monotone,
so a run's best value is exactly ``hour × (its best minute factor) + floor`` —
the maximum of the values ``window`` would give there. A recipient's best minute
is found among the runs, and only the best run is read minute by minute: the
answer (first best candidate, its value) is the one ``window(...).argmax`` gives,
at a fraction of the cost of a (recipients × 10,080) array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["Runs", "top_of"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_MINUTES: Final = 60


@dataclass(frozen=True)
class Runs:
    """The runs of a window's candidate slots (in candidate order)."""

    #: index of each run's first candidate
    start: I64
    length: I64
    #: hour of the week (0–167) and first minute of the hour (0–59) of each run
    hour: I64
    minute: I64
    #: number of candidates
    size: int
    #: the candidates' week slots
    slots: I64

    @classmethod
    def of(cls, slots: npt.ArrayLike) -> Runs:
        """The runs of candidate week ``slots`` (a run never spans two hours)."""
        s = np.asarray(slots, dtype=np.int64)
        cut = np.ones(s.shape[0], dtype=bool)
        cut[1:] = (s[1:] != s[:-1] + 1) | (s[1:] // _MINUTES != s[:-1] // _MINUTES)
        start = np.flatnonzero(cut).astype(np.int64)
        length = np.diff(np.append(start, s.shape[0])).astype(np.int64)
        hour, minute = s[start] // _MINUTES, s[start] % _MINUTES
        return cls(start, length, hour, minute, int(s.shape[0]), s)

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def minute_stats(self, minutes: F32) -> tuple[F32, F64]:
        """Per row and run: the best minute factor ``(n, runs)`` and the factors' sum."""
        key = self.minute * (_MINUTES + 1) + self.length
        distinct, which = np.unique(key, return_inverse=True)
        best = np.empty((minutes.shape[0], distinct.shape[0]), dtype=np.float32)
        total = np.empty((minutes.shape[0], distinct.shape[0]))
        for k, code in enumerate(distinct.tolist()):
            first, length = divmod(code, _MINUTES + 1)
            part = minutes[:, first : first + length]
            best[:, k] = part.max(axis=1)
            total[:, k] = part.sum(axis=1, dtype=np.float64)
        return best[:, which], total[:, which]

    def run_best(self, hours: F32, minutes: F32, floor: F32) -> tuple[F32, F64]:
        """Each run's best value ``(n, runs)`` (exact) and the sum of its values (float64)."""
        best_minute, minute_sum = self.minute_stats(minutes)
        h = hours[:, self.hour]
        top = h * best_minute
        top += floor[:, None]
        total = h.astype(np.float64) * minute_sum + self.length * floor[:, None].astype(np.float64)
        return top, total

    def in_run(self, hours: F32, minutes: F32, floor: F32, run: I64) -> F32:
        """Each row's values over the minutes of its ``run`` ``(n, 60)``; −inf past the run."""
        r = np.arange(hours.shape[0])
        offset = np.arange(_MINUTES)
        cols = np.minimum(self.minute[run][:, None] + offset, _MINUTES - 1)
        values: F32 = hours[r, self.hour[run]][:, None] * minutes[r[:, None], cols]
        values += floor[:, None]
        values[offset[None, :] >= self.length[run][:, None]] = -np.inf
        return values

    def best(self, hours: F32, minutes: F32, floor: F32) -> tuple[I64, F32, F64]:
        """Each row's best candidate (the first, on ties), its value, and the window's mean.

        Equal to ``values.argmax(axis=1)`` and the value there for ``values`` the
        rows' curves over the candidates; the mean is summed in float64.
        """
        top, total = self.run_best(hours, minutes, floor)
        run = top.argmax(axis=1)
        r = np.arange(hours.shape[0])
        inside = self.in_run(hours, minutes, floor, run).argmax(axis=1)
        mean = total.sum(axis=1) / max(self.size, 1)
        return (self.start[run] + inside).astype(np.int64), top[r, run], mean

    def values(self, hours: F32, minutes: F32, floor: F32) -> F32:
        """The rows' values at every candidate ``(n, size)``, row-major: what ``window`` gives.

        Filled run by run (one hour factor times a slice of minute factors), so
        each row comes out contiguous without gathering every minute.
        """
        out = np.empty((hours.shape[0], self.size), dtype=np.float32)
        for start, length, hour, minute in zip(
            self.start.tolist(),
            self.length.tolist(),
            self.hour.tolist(),
            self.minute.tolist(),
            strict=True,
        ):
            block = out[:, start : start + length]
            np.multiply(hours[:, hour : hour + 1], minutes[:, minute : minute + length], out=block)
            block += floor[:, None]
        return out

    def value_at(self, hours: F32, minutes: F32, floor: F32, index: I64) -> F32:
        """Each row's value at its candidate ``index`` (what ``window`` gives there)."""
        r = np.arange(hours.shape[0])
        slot = self.slots[index]
        out: F32 = hours[r, slot // _MINUTES] * minutes[r, slot % _MINUTES]
        out += floor
        return out

    def top(self, hours: F32, minutes: F32, floor: F32, k: int) -> tuple[I64, F32]:
        """Each row's ``k`` best candidates and their values ``(n, k)``, in no order.

        Only the ``k`` runs with the best maxima are read: the k-th best value is at
        least the lowest of those maxima, so no other run can hold one of the k best.
        A row where another run ties that lowest maximum is read in full.
        """
        k = min(k, self.size)
        best, _ = self.run_best(hours, minutes, floor)
        t = min(k, len(self))
        if t == len(self):
            dense = self._dense(hours, minutes, floor, np.arange(hours.shape[0]))
            return top_of(dense, k)
        run = np.argpartition(-best, t - 1, axis=1)[:, :t]
        level = np.take_along_axis(best, run, axis=1).min(axis=1)
        r = np.arange(hours.shape[0])
        offset = np.arange(_MINUTES)
        cols = np.minimum(self.minute[run][:, :, None] + offset, _MINUTES - 1)
        values = hours[r[:, None], self.hour[run]][:, :, None] * minutes[r[:, None, None], cols]
        values += floor[:, None, None]
        values[offset >= self.length[run][:, :, None]] = -np.inf
        index = self.start[run][:, :, None] + offset
        n = hours.shape[0]
        cols_out, vals_out = top_of(values.reshape(n, -1), k)
        cols_out = np.take_along_axis(index.reshape(n, -1), cols_out, axis=1)
        tied = np.flatnonzero((best >= level[:, None]).sum(axis=1) > t)
        if tied.size:
            dense = self._dense(hours, minutes, floor, tied)
            cols_out[tied], vals_out[tied] = top_of(dense, k)
        return cols_out, vals_out

    def _dense(self, hours: F32, minutes: F32, floor: F32, rows: I64) -> F32:
        out: F32 = hours[rows][:, self.slots // _MINUTES] * minutes[rows][:, self.slots % _MINUTES]
        out += floor[rows][:, None]
        return out


def top_of(values: npt.NDArray[np.floating], k: int) -> tuple[I64, F32]:
    """The ``k`` largest of each row of ``values`` ``(n, m)``: columns and values, in no order."""
    if k < values.shape[1]:
        cols = np.argpartition(-values, k - 1, axis=1)[:, :k].astype(np.int64)
    else:
        cols = np.broadcast_to(np.arange(values.shape[1], dtype=np.int64), values.shape).copy()
    return cols, np.take_along_axis(values, cols, axis=1).astype(np.float32)
