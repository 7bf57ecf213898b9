"""The truth-pooled ceiling of bench/timing_ceiling.py: one profile per true persona, and
whether its best hour of the week is in the persona's peak."""

from __future__ import annotations

import sys
from pathlib import Path

from sendflowr.generator import default_world
from sendflowr.timing.curves import CurveConfig
from tests.unit.timing.synthetic import history

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from timing_ceiling import truth_pooled  # noqa: E402


def test_each_persona_gets_the_best_hour_of_its_own_users() -> None:
    groups = {
        # weekdays 07–09 h: its users click at 08 h on weekdays
        "morning_person": ((8,), (0, 1, 2, 3, 4)),
        # Saturday and Sunday, 10, 11, 14, 15 h: its users click at 10 h at weekends
        "weekend_warrior": ((10,), (5, 6)),
        # weekdays 12–13 h, but its users click at 17 h: the history does not show its peak
        "lunch_browser": ((17,), (0, 1, 2, 3, 4)),
        # peak hours "all" and none: no peak to be in, skipped
        "sporadic": ((), tuple(range(7))),
        "low_engaged": ((), tuple(range(7))),
    }
    personas = [p for p in default_world().personas if p.name in groups]
    peaks, days, persona_of = {}, {}, {}
    for name, (hours, active) in groups.items():
        for i in range(8):
            uid = f"{name}-{i}"
            peaks[uid], days[uid], persona_of[uid] = hours, active, name
    evidence, now = history(peaks, days=days, weeks=8)

    out = truth_pooled(evidence, now, CurveConfig(), persona_of, personas)

    assert set(out) == {"morning_person", "weekend_warrior", "lunch_browser"}
    assert out["morning_person"]["best_hour"].split()[1] == "08"
    assert out["morning_person"]["best_hour"][:3] in {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert out["morning_person"]["in_peak"] is True
    assert out["weekend_warrior"]["best_hour"] in {"Sat 10", "Sun 10"}
    assert out["weekend_warrior"]["in_peak"] is True
    # No segmentation could send it in its peak: the history does not show it.
    assert out["lunch_browser"]["best_hour"].endswith(" 17")
    assert out["lunch_browser"]["in_peak"] is False
