"""Zone inference: a population's zones recovered from when its people engage and browse."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from sendflowr.timing.zone_inference import MIN_EVENTS, infer_zones
from sendflowr.timing.zones import table_for

START = datetime(2025, 10, 1, tzinfo=UTC)
NOW = int(datetime(2026, 1, 10, tzinfo=UTC).timestamp() // 60)
ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin",
         "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney")  # fmt: skip
#: local waking hours of three kinds of people (the rest of the day they sleep), and how
#: many of each per zone and ``users_per``: most people keep the usual day
AWAKE = {
    "day": (list(range(7, 24)), 4),
    "early": (list(range(6, 22)), 1),
    "owl": (list(range(10, 24)) + [0, 1, 2, 3], 1),
}


def _population(
    users_per: int = 2, events: int = 40, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:  # type: ignore[type-arg]
    """Each user: ``events`` times at random local waking minutes over 100 days."""
    rng = np.random.default_rng(seed)
    user, minutes, zones, kinds = [], [], [], []
    start = int(START.timestamp() // 60)
    for zone in ZONES:
        for kind, (hours, many) in AWAKE.items():
            for _ in range(users_per * many):
                u = len(zones)
                day = rng.integers(0, 100, events)
                hour = rng.choice(hours, events)
                wall = start + day * 1440 + hour * 60 + rng.integers(0, 60, events)
                utc = table_for(zone, wall * 60_000).to_utc(wall * 60_000) // 60_000
                user.append(np.full(events, u))
                minutes.append(utc)
                zones.append(zone)
                kinds.append(kind)
    return np.concatenate(user), np.concatenate(minutes), zones, kinds


def _offset(zone: str) -> int:
    return int(table_for(zone, [NOW * 60_000]).offset_at([NOW * 60_000])[0]) // 60_000


def test_a_population_of_zones_and_chronotypes_is_recovered() -> None:
    user, minutes, zones, kinds = _population()
    guesses = infer_zones(user, minutes, len(zones), NOW)
    right = [g is not None and _offset(g.zone) == _offset(z)
             for g, z in zip(guesses, zones, strict=True)]  # fmt: skip
    near = [g is not None and abs(_offset(g.zone) - _offset(z)) <= 60
            for g, z in zip(guesses, zones, strict=True)]  # fmt: skip
    # An early riser in New York looks like someone of the usual day in Chicago: only the
    # population's zones tell them apart, so not everyone is exact.
    assert np.mean(right) >= 0.7 and np.mean(near) >= 0.8
    owls = [r for r, k in zip(near, kinds, strict=True) if k == "owl"]
    # not taken for usual sleepers four hours west (a generic day alone gets none right)
    assert np.mean(owls) >= 0.5
    kolkata = [g for g, z in zip(guesses, zones, strict=True) if z == "Asia/Kolkata"]
    assert sum(g is not None and g.zone == "Asia/Kolkata" for g in kolkata) >= 0.8 * len(kolkata)
    # confident answers are right answers
    sure = [r for r, g in zip(right, guesses, strict=True) if g is not None and g.confidence >= 0.8]
    unsure = [
        r for r, g in zip(right, guesses, strict=True) if g is not None and g.confidence < 0.6
    ]
    assert len(sure) >= 10 and np.mean(sure) >= 0.85 and np.mean(unsure) < np.mean(sure) - 0.2


def test_dst_is_applied_at_each_events_date() -> None:
    user, minutes, zones, _ = _population(events=80)
    guesses = infer_zones(user, minutes, len(zones), NOW)
    ny = [g.zone for g, z in zip(guesses, zones, strict=True) if z == "America/New_York" and g]
    # −05:00 all winter, but −04:00 in October: New York, not Bogotá (−05:00, no DST)
    assert ny.count("America/New_York") >= 0.8 * len(ny)


def test_someone_awake_around_the_clock_or_barely_seen_is_not_guessed_with_confidence() -> None:
    user, minutes, zones, _ = _population()
    rng = np.random.default_rng(9)
    flat = int(NOW - 100 * 1440) + rng.integers(0, 100 * 1440, 60)
    n = len(zones)
    few = np.arange(MIN_EVENTS - 1) * 1440 + NOW - 20 * 1440 + 600
    user = np.concatenate([user, np.full(60, n), np.full(few.size, n + 1)])
    minutes = np.concatenate([minutes, flat, few])
    guesses = infer_zones(user, minutes, n + 2, NOW)
    assert guesses[n] is not None and guesses[n].confidence < 0.6
    assert guesses[n + 1] is None


def test_known_zones_anchor_the_fit_and_are_not_guessed() -> None:
    user, minutes, zones, _ = _population()
    known = {u: z for u, z in enumerate(zones) if u % 2 == 0}
    guesses = infer_zones(user, minutes, len(zones), NOW, known=known)
    assert all(guesses[u] is None for u in known)
    right = [guesses[u] is not None and _offset(guesses[u].zone) == _offset(z)  # type: ignore[union-attr]
             for u, z in enumerate(zones) if u not in known]  # fmt: skip
    assert np.mean(right) >= 0.8
