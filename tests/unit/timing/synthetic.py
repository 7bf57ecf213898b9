"""A tiny synthetic history for unit tests: users with a known best hour of the week."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from sendflowr.timing.curves import Evidence
from sendflowr.timing.grid import epoch_minute

START = datetime(2025, 10, 6, tzinfo=UTC)  # a Monday


def history(
    peaks: dict[str, tuple[int, ...]],
    *,
    weeks: int = 12,
    sends_per_day: int = 3,
    seed: int = 7,
    peak_rate: float = 0.6,
    base_rate: float = 0.02,
) -> tuple[Evidence, int]:
    """Deliveries at random minutes 06:00–22:59; clicks likely in each user's peak hours of day
    (on weekdays only). Returns the evidence and the epoch minute right after it ends."""
    rng = np.random.default_rng(seed)
    ids, users, minutes, clicked = list(peaks), [], [], []
    start = epoch_minute(START)
    for u, uid in enumerate(ids):
        for day in range(weeks * 7):
            for _ in range(sends_per_day):
                m = start + day * 1440 + int(rng.integers(6 * 60, 23 * 60))
                hour = (m - start) % 1440 // 60
                weekday = day % 7
                p = peak_rate if hour in peaks[uid] and weekday < 5 else base_rate
                users.append(u)
                minutes.append(m)
                clicked.append(rng.random() < p)
    evidence = Evidence(
        universal_ids=ids,
        user_index=np.asarray(users, dtype=np.int64),
        delivered_minute=np.asarray(minutes, dtype=np.int64),
        clicked=np.asarray(clicked, dtype=bool),
        opened=np.asarray(clicked, dtype=bool),
    )
    return evidence, start + weeks * 7 * 1440
