"""Decisions in local time: local windows across DST, quiet hours, zone sources, local curves."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sendflowr.clock import ManualClock
from sendflowr.timing.api import create_app
from sendflowr.timing.curves import CurveConfig, Evidence
from sendflowr.timing.decisions import Decision, DecisionRequest
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.localtime import decide_by_clock
from sendflowr.timing.sources import MemorySource, choose_zones, localise
from sendflowr.timing.zones import ZoneChoice, table_for, tzinfo_of
from tests.asgi import AppClient
from tests.unit.timing.test_decisions import FixedLatency

NY, KOL, TYO = "America/New_York", "Asia/Kolkata", "Asia/Tokyo"
START = datetime(2025, 9, 1, tzinfo=UTC)  # a Monday
#: user → (zone, local peak hour on weekdays)
USERS = {
    "ny9": (NY, 9), "ny19": (NY, 19), "kol13": (KOL, 13), "tyo20": (TYO, 20),
    "utc8": ("UTC", 8), "utc18": ("UTC", 18),
}  # fmt: skip


def _evidence(weeks: int = 13) -> Evidence:
    """Six deliveries a day at random *local* minutes 06:00–22:59; clicks likely at the
    user's local peak hour on weekdays; browsing (activity) at local 08:00–21:59. Stored in
    UTC, as the events table holds them."""
    rng = np.random.default_rng(5)
    users, minutes, clicked, act_users, act_minutes = [], [], [], [], []
    start_wall = int(START.timestamp() // 60)
    for u, (zone, peak) in enumerate(USERS.values()):
        days = np.repeat(np.arange(weeks * 7), 6)
        local = start_wall + days * 1440 + rng.integers(6 * 60, 23 * 60, days.size)
        hour, weekday = (local % 1440) // 60, days % 7
        p = np.where((hour == peak) & (weekday < 5), 0.7, 0.02)
        utc = table_for(zone, local * 60_000).to_utc(local * 60_000) // 60_000
        users.append(np.full(days.size, u))
        minutes.append(utc)
        clicked.append(rng.random(days.size) < p)
        browse = start_wall + rng.integers(0, weeks * 7, 40) * 1440 + rng.integers(480, 1320, 40)
        act_users.append(np.full(40, u))
        act_minutes.append(table_for(zone, browse * 60_000).to_utc(browse * 60_000) // 60_000)
    click = np.concatenate(clicked)
    return Evidence(
        universal_ids=list(USERS),
        user_index=np.concatenate(users).astype(np.int64),
        delivered_minute=np.concatenate(minutes).astype(np.int64),
        clicked=click,
        opened=click,
        activity_index=np.concatenate(act_users).astype(np.int64),
        activity_minute=np.concatenate(act_minutes).astype(np.int64),
    )


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 10, 22, 12, tzinfo=UTC))


@pytest.fixture(scope="module")
def client(clock: ManualClock) -> Iterator[AppClient]:
    evidence = _evidence()
    stored = {uid: zone for uid, (zone, _) in USERS.items() if zone != "UTC"}

    def make_engine() -> TimingEngine:
        return TimingEngine(MemorySource(evidence, zones=stored), MemoryExplanations(),
                            FixedLatency(12.0), config=CurveConfig(segments=3),
                            clock=clock)  # fmt: skip

    c = AppClient(create_app(make_engine))
    try:
        yield c
    finally:
        c.close()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "monday", "lo", "hi", "offset"),
    [
        (datetime(2025, 10, 22, 12, tzinfo=UTC), "2025-10-27", 12, 14, "-04:00"),
        (datetime(2025, 10, 29, 12, tzinfo=UTC), "2025-11-03", 13, 15, "-05:00"),
    ],
)
def test_next_monday_08_to_10_local_in_new_york_across_the_dst_change(
    client: AppClient, clock: ManualClock, now: datetime, monday: str, lo: int, hi: int, offset: str
) -> None:
    clock.set(now)
    body = {
        "universal_id": "ny9",
        "timezone": NY,
        "send_after_local": f"{monday}T08:00:00",
        "send_before_local": f"{monday}T10:00:00",
    }
    r = client.post("/timing-decision", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    day = datetime.fromisoformat(monday).replace(tzinfo=UTC)
    target, trigger = _utc(out["target_time_utc"]), _utc(out["trigger_timestamp_utc"])
    assert day + timedelta(hours=lo) <= target < day + timedelta(hours=hi)
    assert day + timedelta(hours=lo) <= trigger < day + timedelta(hours=hi)
    assert out["timezone"] == NY and out["utc_offset"] == offset
    assert out["target_local"].endswith(offset)
    assert datetime.fromisoformat(out["target_local"]).hour == 9  # the learned local peak
    assert out["zone_source"] == "request"


def test_curves_are_learned_in_the_local_week_so_the_peak_stays_at_local_09(
    client: AppClient, clock: ManualClock
) -> None:
    hours = []
    for now in (datetime(2025, 10, 26, 23, tzinfo=UTC), datetime(2025, 11, 2, 23, tzinfo=UTC)):
        clock.set(now)
        out = client.post("/timing-decision", json={"universal_id": "ny9"}).json()
        assert out["zone_source"] == "stored" and out["timezone"] == NY
        hours.append((datetime.fromisoformat(out["target_local"]).hour,
                      _utc(out["target_time_utc"]).hour))  # fmt: skip
    assert hours == [(9, 13), (9, 14)]  # same local hour, one hour later in UTC after Nov 2


def test_quiet_hours_and_per_recipient_zones_in_a_batch(
    client: AppClient, clock: ManualClock
) -> None:
    clock.set(datetime(2025, 10, 22, 12, tzinfo=UTC))
    body = {
        "recipients": [{"universal_id": "kol13"}, {"universal_id": "tyo20", "timezone": TYO},
                       {"universal_id": "utc8"}, {"universal_id": "cold-one", "timezone": KOL}],
        "quiet_hours": {"start": "12:00", "end": "14:00"},
    }  # fmt: skip
    r = client.post("/timing-decisions", json=body)
    assert r.status_code == 200, r.text
    got = {d["universal_id"]: d for d in r.json()["decisions"]}
    kol = got["kol13"]
    assert (kol["timezone"], kol["utc_offset"], kol["zone_source"]) == (KOL, "+05:30", "stored")
    assert datetime.fromisoformat(kol["target_local"]).hour not in (12, 13)  # quiet
    tyo = got["tyo20"]
    assert tyo["zone_source"] == "request"
    assert abs(datetime.fromisoformat(tyo["target_local"]).hour - 20) <= 1  # its local peak
    assert (got["utc8"]["timezone"], got["utc8"]["zone_source"]) == ("UTC", "default")
    assert got["cold-one"]["utc_offset"] == "+05:30"


def test_capacity_holds_for_a_batch_spread_over_several_clocks(
    client: AppClient, clock: ManualClock
) -> None:
    # Recipients on different clocks are decided in several calls; the cap is the batch's.
    clock.set(datetime(2025, 10, 22, 12, tzinfo=UTC))
    recipients = [{"universal_id": f"cold-{z}-{i}", "timezone": z}
                  for z in (NY, KOL, TYO, "UTC") for i in range(30)]  # fmt: skip
    recipients += [{"universal_id": u} for u in USERS]
    body = {
        "recipients": recipients,
        "send_after": "2025-10-23T00:00:00Z",
        "send_before": "2025-10-23T02:00:00Z",  # 120 minutes for 126 recipients
        "capacity": {"per_minute": 2},
    }
    r = client.post("/timing-decisions", json=body)
    assert r.status_code == 200, r.text
    per_minute = Counter(d["target_time_utc"] for d in r.json()["decisions"])
    assert len(r.json()["decisions"]) == len(recipients)
    assert max(per_minute.values()) <= 2
    body["capacity"] = {"per_minute": 1}  # 120 places for 126 recipients: refused, not piled
    assert client.post("/timing-decisions", json=body).json()["field"] == "capacity"


def test_bad_zone_and_mixed_window_fields_are_422(client: AppClient) -> None:
    r = client.post("/timing-decision", json={"universal_id": "ny9", "timezone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["field"] == "timezone"
    assert "Mars/Olympus" in r.json()["reason"]
    both = {"universal_id": "ny9", "send_after": "2025-10-27T12:00:00Z",
            "send_after_local": "2025-10-27T08:00:00"}  # fmt: skip
    assert client.post("/timing-decision", json=both).json()["field"] == "send_after_local"
    quiet_all = {"universal_id": "ny9", "quiet_hours": {"start": "00:00", "end": "23:59"},
                 "send_after_local": "2025-12-01T01:00:00",
                 "send_before_local": "2025-12-01T02:00:00"}  # fmt: skip
    r = client.post("/timing-decision", json=quiet_all)
    assert r.status_code == 422 and r.json()["field"] == "quiet_hours"


def test_zones_are_stored_else_inferred_with_a_confidence_else_utc() -> None:
    evidence = _evidence(weeks=6)
    zones = choose_zones(evidence, {"ny9": NY})
    assert zones["ny9"] == ZoneChoice(NY, "stored", 1.0)
    tyo = zones["tyo20"]
    at = [int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000)]
    offset = int(table_for(tyo.name, at).offset_at(at)[0]) // 60_000
    assert tyo.source == "inferred" and abs(offset - 9 * 60) <= 60
    assert 0.6 <= tyo.confidence <= 1.0
    assert tyo.curve_clock == tyo.name  # a confident guess is learned on
    assert choose_zones(evidence, {}, infer=False)["tyo20"] == ZoneChoice()
    moved = localise(evidence, {"kol13": ZoneChoice(KOL, "stored", 1.0)})
    k = evidence.universal_ids.index("kol13")
    rows = evidence.user_index == k
    assert np.all(moved.delivered_minute[rows] - evidence.delivered_minute[rows] == 330)
    assert np.array_equal(moved.delivered_minute[~rows], evidence.delivered_minute[~rows])


def test_decide_by_clock_reads_each_curve_on_its_own_clock() -> None:
    evidence = _evidence()
    stored = {uid: zone for uid, (zone, _) in USERS.items() if zone != "UTC"}
    source = MemorySource(evidence, zones=stored)
    now = datetime(2025, 11, 30, 23, tzinfo=UTC)  # a Sunday: the next weekdays are ahead
    engine = TimingEngine(source, MemoryExplanations(), FixedLatency(12.0),
                          config=CurveConfig(segments=3), clock=ManualClock(now))  # fmt: skip
    ids = ["ny9", "kol13", "utc8"]
    out = decide_by_clock(DecisionRequest(ids), engine.curves(), engine.latency, {}, now, source)
    assert [d.universal_id for d in out] == ids
    local = {
        d.universal_id: d.target_minute_utc.astimezone(tzinfo_of(USERS[d.universal_id][0])).hour
        for d in out
        if isinstance(d, Decision)
    }
    assert local == {"ny9": 9, "kol13": 13, "utc8": 8}
