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
    days: dict[str, tuple[int, ...]] | None = None,
    active: dict[str, tuple[int, ...]] | None = None,
    signals_per_week: float = 1.0,
) -> tuple[Evidence, int]:
    """Deliveries at random minutes 06:00–22:59; clicks likely in each user's peak hours of day
    on its active ``days`` (default Monday–Friday). ``active``: hours of day of a user's
    activity signals (``signals_per_week`` of them, on any day). Returns the evidence and
    the epoch minute right after it ends."""
    rng = np.random.default_rng(seed)
    ids, users, minutes, clicked = list(peaks), [], [], []
    start = epoch_minute(START)
    for u, uid in enumerate(ids):
        for day in range(weeks * 7):
            for _ in range(sends_per_day):
                m = start + day * 1440 + int(rng.integers(6 * 60, 23 * 60))
                hour = (m - start) % 1440 // 60
                weekday = day % 7
                on = weekday in (days or {}).get(uid, (0, 1, 2, 3, 4))
                p = peak_rate if hour in peaks[uid] and on else base_rate
                users.append(u)
                minutes.append(m)
                clicked.append(rng.random() < p)
    acts, act_minutes = [], []
    for u, uid in enumerate(ids):
        hours = (active or {}).get(uid, ())
        for _ in range(int(weeks * signals_per_week) if hours else 0):
            day = int(rng.integers(weeks * 7))
            acts.append(u)
            act_minutes.append(
                start + day * 1440 + int(rng.choice(hours)) * 60 + int(rng.integers(60))
            )
    evidence = Evidence(
        universal_ids=ids,
        user_index=np.asarray(users, dtype=np.int64),
        delivered_minute=np.asarray(minutes, dtype=np.int64),
        clicked=np.asarray(clicked, dtype=bool),
        opened=np.asarray(clicked, dtype=bool),
        activity_index=np.asarray(acts, dtype=np.int64),
        activity_minute=np.asarray(act_minutes, dtype=np.int64),
    )
    return evidence, start + weeks * 7 * 1440
