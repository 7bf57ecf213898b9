"""Ground truth per simulated user: what a timing model should recover.

The truth file (``--truth FILE``) is JSON lines, one user a line, and like
every file SendFlowr writes it holds the email *hash*, never the address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import orjson

__all__ = ["TruthWriter", "UserTruth", "ms_to_iso", "truth_record", "write_truth"]


def ms_to_iso(ms: int) -> str:
    """ISO-8601 UTC text of epoch milliseconds (``2025-10-01T06:12:00.000Z``)."""
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass(slots=True)
class UserTruth:
    """One user's hidden parameters, as the simulation used them."""

    index: int
    recipient_id: str
    email_hash: str
    universal_id: str
    persona: str
    persona_index: int
    #: start of each drift month (epoch ms, ascending) and the rates in force from it.
    month_start_ms: npt.NDArray[np.int64]
    click_rates: npt.NDArray[np.float64]
    open_rates: npt.NDArray[np.float64]
    #: (event_type, start_ms, end_ms) of each circuit-breaker suppression.
    suppressions: list[tuple[str, int, int]] = field(default_factory=list)
    #: (event_type, at_ms) of each hot-path signal.
    hot_paths: list[tuple[str, int]] = field(default_factory=list)
    #: IANA zone the user lives in (persona hours are read on its clock).
    timezone: str = "UTC"

    def rates_at(self, ms: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], ...]:
        """(click_rate, open_rate) in force at each epoch-ms time."""
        idx = np.searchsorted(self.month_start_ms, np.asarray(ms, dtype=np.int64), side="right")
        idx = np.clip(idx - 1, 0, len(self.month_start_ms) - 1)
        return self.click_rates[idx], self.open_rates[idx]

    def suppressed_at(self, ms: int) -> bool:
        """Whether a circuit breaker suppresses sends at ``ms``."""
        return any(start <= ms < end for _, start, end in self.suppressions)


def truth_record(truth: UserTruth, persona_params: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready record of one user (``persona_params`` from the world)."""
    record: dict[str, Any] = {
        "user_index": truth.index,
        "recipient_id": truth.recipient_id,
        "recipient_email_hash": truth.email_hash,
        "universal_id": truth.universal_id,
        "persona": truth.persona,
        "persona_params": persona_params,
        "monthly": [
            {"from": ms_to_iso(int(m)), "click_rate": float(c), "open_rate": float(o)}
            for m, c, o in zip(
                truth.month_start_ms, truth.click_rates, truth.open_rates, strict=True
            )
        ],
        "suppressions": [
            {"event_type": t, "start": ms_to_iso(s), "end": ms_to_iso(e)}
            for t, s, e in truth.suppressions
        ],
        "hot_paths": [{"event_type": t, "at": ms_to_iso(at)} for t, at in truth.hot_paths],
    }
    if truth.timezone != "UTC":  # absent means UTC, as on events
        record["timezone"] = truth.timezone
    return record


def write_truth(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write truth records as JSON lines; returns how many users were written."""
    n = 0
    with path.open("wb") as fh:
        for rec in records:
            fh.write(orjson.dumps(rec) + b"\n")
            n += 1
    return n


class TruthWriter:
    """Writes truth records as the generator makes them (``run(on_truths=writer.write)``),
    so a run of any size holds one chunk of truth at a time. ``persona_params``: each
    persona's parameters by name (as ``truth_record`` wants them)."""

    def __init__(self, path: Path, persona_params: dict[str, dict[str, Any]]) -> None:
        self._path = path
        self._params = persona_params
        self._fh: IO[bytes] | None = None
        self.written = 0

    def __enter__(self) -> TruthWriter:
        self._fh = self._path.open("wb")
        return self

    def __exit__(self, *_: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def write(self, truths: Iterable[UserTruth]) -> None:
        """Append one line per user."""
        assert self._fh is not None, "use as a context manager"
        lines = [orjson.dumps(truth_record(t, self._params[t.persona])) + b"\n" for t in truths]
        self._fh.write(b"".join(lines))
        self.written += len(lines)
