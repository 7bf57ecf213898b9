"""The report's time-zone sections: opens by local hour per persona, and a zone across DST.

Persona hours are local, so opens must concentrate in each persona's active
*local* hours; and a zone's habits must move by one hour in UTC at that zone's
own DST change — and not at another zone's (a zone without DST is the control).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sendflowr.report import data, plots
from sendflowr.report.checks import Expectation, Section, judge
from sendflowr.store.access import Queryable
from sendflowr.timing.zones import table_for

__all__ = ["dst_section", "local_hours_section", "zone_sections"]

_MIN_OPENS = 100
#: opens per active local hour against opens per other waking hour: concentrated.
_LIFT_TARGET = 1.5
_WINDOW_DAYS = 14


def _active(persona: dict[str, Any]) -> set[int]:
    hours: set[int] = set()
    for key in ("peak_hours", "secondary_hours"):
        value = persona.get(key)
        hours |= set(range(24)) if value == "all" else {int(h) for h in value or []}
    return hours


def local_hours_section(
    store: Queryable, database: str, world: dict[str, Any], known: list[str]
) -> Section:
    """Per persona, the share of opens at its active local hours (peak ∪ secondary)."""
    frame = data.opens_by_local_hour(store, database, known)
    rows, expectations = [], []
    for persona in world.get("personas", []):
        name = str(persona["name"])
        active = _active(persona)
        sub = frame[frame["persona"] == name]
        total = int(sub["opens"].sum())
        inside = int(sub[sub["hour"].isin(active)]["opens"].sum())
        share = inside / total if total else float("nan")
        awake = 24 - len(set(persona.get("sleep_hours") or []) - active)
        other = awake - len(active)
        lift = (
            (inside / len(active)) / ((total - inside) / other)
            if active and other > 0 and total > inside
            else float("nan")
        )
        rows.append(
            {
                "persona": name,
                "active local hours": len(active),
                "opens": total,
                "share in active hours": round(share, 3),
                "active hours' share of the waking day": round(len(active) / max(awake, 1), 3),
                "opens per active hour ÷ per other waking hour": round(lift, 2),
            }
        )
        if not active or other <= 0:
            continue  # every waking hour is active: nothing to judge
        expectations.append(
            Expectation(
                f"{name}: opens concentrated in active local hours",
                f"{share:.1%} of opens in {len(active)} of {awake} waking hours; "
                f"{lift:.2f}× per hour",
                f"≥ {_LIFT_TARGET:.1f}× per hour",
                judge(lift >= _LIFT_TARGET, total >= _MIN_OPENS),
            )
        )
    table = pd.DataFrame(rows)
    return Section(
        "local_hours",
        "Opens by local hour, per persona",
        "Opens by the hour of the recipient's own clock (events carry the IANA zone). Persona "
        "hours are local and opens follow the person's wakefulness, so opens concentrate in the "
        "persona's active hours (peak ∪ secondary) whatever the zone.",
        plots.local_hours(frame, {p["name"]: _active(p) for p in world.get("personas", [])}),
        table,
        expectations,
    )


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _profile(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Time-of-day density in 96 quarter-hours, smoothed circularly (σ = 30 min)."""
    h = np.bincount(frame["quarter"].to_numpy(int), frame["events"].to_numpy(float), 96)
    kernel = np.exp(-0.5 * (((np.arange(96) + 48) % 96 - 48) / 2.0) ** 2)
    smooth = np.real(np.fft.ifft(np.fft.fft(h) * np.fft.fft(kernel)))
    return np.asarray(smooth / max(float(smooth.sum()), 1e-12))


def _shift(before: pd.DataFrame, after: pd.DataFrame) -> float:
    """Hours (−3 … +3, quarter-hour steps) that best map before-habits onto after-habits,
    persona by persona (a mixture of personas is too flat to align)."""
    best, best_score = 0.0, -np.inf
    personas = sorted(set(before["persona"]) & set(after["persona"]))
    profiles = [
        (_profile(before[before["persona"] == p]), _profile(after[after["persona"] == p]), p)
        for p in personas
    ]
    for q in range(-12, 13):
        score = sum(
            float(after[after["persona"] == p]["events"].sum()) * float(np.dot(np.roll(b, q), a))
            for b, a, p in profiles
        )
        if score > best_score + 1e-12:
            best, best_score = q / 4, score
    return best


def _change_in(zone: str, first: date, last: date) -> tuple[datetime, float] | None:
    """The zone's first offset change inside the period and the UTC shift it causes (h)."""
    lo, hi = _day_ms(first + timedelta(days=_WINDOW_DAYS)), _day_ms(last - timedelta(days=7))
    table = table_for(zone, [lo, hi])
    for i, at in enumerate(table.change_ms.tolist()):
        if lo <= at <= hi:
            delta = int(table.offset_ms[i + 1] - table.offset_ms[i])
            return datetime.fromtimestamp(at / 1000, tz=UTC), -delta / 3_600_000
    return None


def dst_section(
    store: Queryable, database: str, world: dict[str, Any], known: list[str]
) -> Section | None:
    """One zone's habits in UTC across its DST change, beside a zone without DST."""
    shape = data.dataset_shape(store, database).iloc[0]
    if not shape["first_day"]:
        return None
    first, last = date.fromisoformat(shape["first_day"]), date.fromisoformat(shape["last_day"])
    local = [c["id"] for c in world.get("campaigns", []) if c.get("send_in") == "recipient"]
    zoned = [z for z in known if z and z != "UTC"]
    picked = next(((z, c) for z in zoned if (c := _change_in(z, first, last))), None)
    if picked is None:
        return None
    zone, (change, expected) = picked
    control = next((z for z in zoned if table_for(z, [_day_ms(first)]).fixed), None)
    cut = change.date()
    rows, expectations, frames = [], [], {}
    for name in [zone, *([control] if control else [])]:
        frame = data.zone_opens_by_day(store, database, name, local)
        days = pd.to_datetime(frame["day"]).dt.date
        before = frame[(days >= cut - timedelta(days=_WINDOW_DAYS)) & (days < cut)]
        after = frame[(days > cut) & (days <= cut + timedelta(days=_WINDOW_DAYS))]
        shift = _shift(before, after)
        want = expected if name == zone else 0.0
        n = int(min(before["events"].sum(), after["events"].sum()))
        rows.append(
            {
                "zone": name,
                "events before": int(before["events"].sum()),
                "events after": int(after["events"].sum()),
                "UTC shift (h)": shift,
                "expected (h)": want,
            }
        )
        frames[name] = (frame, _profile(before), _profile(after))
        what = "moves by its DST change" if name == zone else "stays (no DST)"
        expectations.append(
            Expectation(
                f"{name}: habits in UTC across {cut.isoformat()} {what}",
                f"{shift:+.2f} h",
                f"{want:+.0f} h ± 0.5",
                judge(abs(shift - want) <= 0.5, n >= _MIN_OPENS),
            )
        )
    return Section(
        "dst",
        f"{zone} across its DST change ({cut.isoformat()})",
        f"Opens, clicks (of sends on the recipient's clock) and hot-path events of {zone}'s "
        "recipients by UTC time of day: per day (left) and two weeks either side of the change "
        "(right), with each profile's peak marked. Local habits stay put, so in UTC they move by "
        "the change of offset; a zone without DST is the control.",
        plots.dst_shift(frames, zone, cut.isoformat()),
        pd.DataFrame(rows),
        expectations,
    )


def zone_sections(store: Queryable, database: str, world: dict[str, Any]) -> list[Section]:
    """The time-zone sections (the DST one only when the data holds a change)."""
    known = data.zones(store, database)
    sections = [local_hours_section(store, database, world, known)]
    dst = dst_section(store, database, world, known)
    if dst is not None:
        sections.append(dst)
    return sections
