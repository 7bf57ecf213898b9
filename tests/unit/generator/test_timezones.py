"""Recipients live in time zones (issue #15): local habits, DST, wakefulness, legacy output."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import msgspec
import numpy as np
import numpy.typing as npt
import orjson
import pytest

from sendflowr.errors import ConfigError
from sendflowr.generator import default_world, generate_arrow, generate_truth, model_for
from sendflowr.generator.block import concat_blocks
from sendflowr.generator.engagement import wake_open_delay
from sendflowr.generator.model import DAY_MS, HOUR_MS, MINUTE_MS
from sendflowr.generator.rows import canonical_rows
from sendflowr.generator.run import Plan, generate_blocks
from sendflowr.generator.truth import truth_record
from sendflowr.generator.world import World, parse_world
from sendflowr.timing.zones import table_for

#: sha256 of canonical rows (seed 7, 30 users, default period) of the legacy world
#: (all UTC, exponential open delays), pinned when user streams became keyed by
#: persona and rank (issue 14). Before that, streams were keyed by user index, and
#: this world reproduced the generator from before time zones (commit f4c9d1b)
#: exactly.
LEGACY_ROWS = 7033
LEGACY_SHA256 = "14b4c5f36ada69c08cff455491cfde5032ab210f0a01a8d1f29c4b6fe6f1662a"

#: (change instant, the zones that change then, the UTC shift in hours of a fixed local hour)
CHANGES = (
    (datetime(2025, 10, 4, 16, tzinfo=UTC), {"Australia/Sydney"}, -1),
    (datetime(2025, 10, 26, 1, tzinfo=UTC), {"Europe/London", "Europe/Berlin"}, +1),
    (datetime(2025, 11, 2, 6, tzinfo=UTC), {"America/New_York", "America/Los_Angeles"}, +1),
)


def _legacy(world: World) -> World:
    tz = msgspec.structs.replace(
        world.timezones, mix={"UTC": 1.0}, sender_zone="UTC", open_delay="exponential"
    )
    return msgspec.structs.replace(world, timezones=tz)


def _rows_digest(world: World, seed: int = 7, users: int = 30) -> tuple[int, str]:
    model = model_for(world)
    h = model.world.history
    block = concat_blocks(
        [b for b, _ in generate_blocks(Plan(model, seed, h.start, h.end, users=users))]
    )
    rows = canonical_rows(model, block)
    return len(rows), hashlib.sha256(orjson.dumps(rows)).hexdigest()


def test_an_all_utc_exponential_world_reproduces_its_pinned_output() -> None:
    assert _rows_digest(_legacy(default_world())) == (LEGACY_ROWS, LEGACY_SHA256)


def test_a_world_file_without_a_timezones_section_is_the_legacy_world() -> None:
    data = orjson.loads(msgspec.json.encode(default_world()))
    del data["timezones"]
    for p in data["personas"]:
        del p["sleep_hours"]
    for c in data["campaigns"]:
        del c["send_in"]
    world = parse_world(orjson.dumps(data))
    assert world.timezones.mix == {"UTC": 1.0}
    assert _rows_digest(world) == (LEGACY_ROWS, LEGACY_SHA256)


def test_the_shipped_mix_changes_the_output_and_events_carry_their_zone() -> None:
    assert _rows_digest(default_world())[1] != LEGACY_SHA256
    table = generate_arrow(None, 7, users=350, count=20_000)
    zones = set(table["timezone"].to_pylist())
    assert {"America/New_York", "Asia/Kolkata", "Australia/Sydney"} <= zones
    truths = generate_truth(None, 7, users=40)
    record = truth_record(truths[0], {})
    assert record["timezone"] == truths[0].timezone != "UTC"


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"mix": {"Mars/Olympus": 1.0}}, "timezones.mix"),
        ({"sender_zone": "Nowhere/City"}, "timezones.sender_zone"),
    ],
)
def test_unknown_zones_in_the_world_file_are_named(patch: dict[str, object], where: str) -> None:
    data = orjson.loads(msgspec.json.encode(default_world()))
    data["timezones"].update(patch)
    with pytest.raises(ConfigError, match=where):
        parse_world(orjson.dumps(data))


def test_sleep_hours_may_not_cover_peak_hours() -> None:
    data = orjson.loads(msgspec.json.encode(default_world()))
    data["personas"][0]["sleep_hours"] = [8]
    with pytest.raises(ConfigError, match=r"personas\[0\].sleep_hours"):
        parse_world(orjson.dumps(data))


def _activity(users: int, seed: int, start: date, end: date) -> tuple[npt.NDArray[np.int64], ...]:
    """(UTC ms, zone code, persona code) of habit events: opens and clicks of sends on the
    recipient's clock, and hot-path signals (the sender's clock moves with its own DST)."""
    world = default_world()
    table = generate_arrow(None, seed, users=users, start=start, end=end)
    local = [c.id for c in world.campaigns if c.send_in == "recipient"]
    etype = np.array(table["event_type"].to_pylist())
    camp = np.array(table["campaign_id"].to_pylist())
    keep = (np.isin(etype, ["opened", "clicked"]) & np.isin(camp, local)) | np.isin(
        etype, ["site_visit", "product_view", "sms_click"]
    )
    ts = table["timestamp"].cast("int64").to_numpy()
    zone = table["timezone"].dictionary_encode().to_pylist()
    names = sorted(set(zone))
    zcode = np.array([names.index(z) for z in zone])
    persona = np.array([orjson.loads(m)["persona"] for m in table["metadata"].to_pylist()])
    pnames = sorted(set(persona.tolist()))
    pcode = np.array([pnames.index(p) for p in persona])
    return ts[keep], zcode[keep], pcode[keep], np.array(names)  # type: ignore[return-value]


def _hist(ms: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Time-of-day density in 5-minute bins, smoothed circularly (σ = 30 min)."""
    h = np.bincount((ms // MINUTE_MS) % 1440 // 5, minlength=288).astype(np.float64)
    kernel = np.exp(-0.5 * (((np.arange(288) + 144) % 288 - 144) / 6.0) ** 2)
    smooth = np.real(np.fft.ifft(np.fft.fft(h) * np.fft.fft(kernel)))
    return np.asarray(smooth / max(smooth.sum(), 1e-12))


def _shift_hours(before: list[npt.NDArray[np.int64]], after: list[npt.NDArray[np.int64]]) -> int:
    """The whole-hour shift (−1, 0, +1) that best maps the before-habits onto the after."""
    scores = {}
    for s in (-1, 0, 1):
        scores[s] = sum(
            len(a) * float(np.dot(np.roll(_hist(b), s * 12), _hist(a)))
            for b, a in zip(before, after, strict=True)
            if len(a) and len(b)
        )
    return max(scores, key=lambda k: scores[k])


@pytest.mark.parametrize(("change", "changing", "shift"), CHANGES)
def test_each_zones_utc_peak_moves_by_an_hour_at_its_own_dst_change_only(
    change: datetime, changing: set[str], shift: int
) -> None:
    day = change.date()
    start, end = day - timedelta(days=7), day + timedelta(days=8)
    ts, zone, persona, names = _activity(1050, 11, start, end)
    cut = int(change.timestamp() * 1000)
    before_win = (ts >= cut - 7 * DAY_MS) & (ts < cut - 6 * HOUR_MS)
    after_win = (ts >= cut + 6 * HOUR_MS) & (ts < cut + 7 * DAY_MS)
    seen = {}
    for z, name in enumerate(names.tolist()):
        parts = [
            (
                ts[before_win & (zone == z) & (persona == p)],
                ts[after_win & (zone == z) & (persona == p)],
            )
            for p in np.unique(persona).tolist()
        ]
        seen[name] = _shift_hours([b for b, _ in parts], [a for _, a in parts])
    expected = {name: (shift if name in changing else 0) for name in seen}
    assert seen == expected
    assert seen["Asia/Tokyo"] == seen["Asia/Kolkata"] == 0


def test_an_asleep_recipient_opens_after_waking() -> None:
    model = model_for(None)
    morning = model.persona_index("morning_person")  # sleeps 22:00-05:59 local
    monday_23h = int(datetime(2025, 10, 6, 23, tzinfo=UTC).timestamp() * 1000)
    activity = np.array([60_000.0, 30 * MINUTE_MS, 3 * HOUR_MS])
    delay = wake_open_delay(model, morning, np.full(3, monday_23h), activity, 2880 * MINUTE_MS)
    opened_hour = ((monday_23h + delay) // HOUR_MS) % 24
    assert np.all(opened_hour >= 6) and np.all(opened_hour < 22)
    assert np.all(delay >= 7 * HOUR_MS)
    assert np.all(np.diff(delay) > 0)  # more activity needed, later open
    # awake at 15:00 the clock runs: a short delay stays short
    afternoon = monday_23h - 8 * HOUR_MS
    short = wake_open_delay(model, morning, np.array([afternoon]), np.array([60_000.0]), 1e12)
    assert 0 < short[0] < 10 * MINUTE_MS


def test_with_wakefulness_no_persona_opens_while_asleep() -> None:
    world = default_world()
    table = generate_arrow(None, 3, users=120)
    opened = np.array(table["event_type"].to_pylist()) == "opened"
    ts = table["timestamp"].cast("int64").to_numpy()[opened]
    zones = np.array(table["timezone"].to_pylist())[opened]
    personas = [orjson.loads(m)["persona"] for m in table["metadata"].to_pylist()]
    persona = np.array(personas)[opened]
    for name in set(zones.tolist()):
        rows = zones == name
        hours = (table_for(name, ts[rows]).to_wall(ts[rows]) // HOUR_MS) % 24
        for p in world.personas:
            mine = persona[rows] == p.name
            assert not np.isin(hours[mine], p.sleep_hours).any(), (name, p.name)
