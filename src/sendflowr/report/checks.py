"""The fidelity checks: each behaviour of docs/behaviour-model.md measured, plotted and judged.

A ``Section`` holds one plot, a small table and its expectations, each with the
measured value beside the target and a status: pass, fail, or info (too little
data to judge, or a data set that is not the full history).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from sendflowr.report import data, plots
from sendflowr.store.access import Queryable

__all__ = ["Expectation", "Section", "build_sections", "judge"]

Status = Literal["pass", "fail", "info"]

_MIN_SAMPLE = 30


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expectation: what was measured against what the behaviour model asks."""

    name: str
    measured: str
    target: str
    status: Status


@dataclass
class Section:
    """One behaviour: a plot, a table and its expectations."""

    key: str
    title: str
    description: str
    figure: bytes | None
    table: pd.DataFrame | None
    expectations: list[Expectation] = field(default_factory=list)


def judge(ok: bool, enough: bool = True) -> Status:
    """pass/fail by ``ok``, or info when there is not ``enough`` data to judge."""
    if not enough:
        return "info"
    return "pass" if ok else "fail"


def _rate(opened: float, delivered: float) -> float:
    return float(opened) / float(delivered) if delivered else float("nan")


def _hours(value: Any) -> set[int]:
    if value == "all":
        return set(range(24))
    return {int(h) for h in value or []}


def _latency(store: Queryable, db: str, world: dict[str, Any]) -> Section:
    frame = data.latency_by_minute(store, db)
    summary = data.latency_summary(store, db)
    medians = dict(zip(summary["channel"], summary["p50"], strict=True))
    expectations: list[Expectation] = []
    summary_rows = []
    for channel, group in frame.groupby("channel"):
        n = int(group["n"].sum())
        overall_max = float(group["max"].max())
        top = group[group["m"].isin([0, 1, 2])]
        rest = group[~group["m"].isin([0, 1, 2])]
        top_mean = _rate((top["mean"] * top["n"]).sum(), top["n"].sum())
        rest_mean = _rate((rest["mean"] * rest["n"]).sum(), rest["n"].sum())
        ratio = top_mean / rest_mean if rest_mean else float("nan")
        summary_rows.append(
            {
                "channel": channel,
                "delivered": n,
                "mean :00–:02 (s)": round(top_mean, 1),
                "mean other minutes (s)": round(rest_mean, 1),
                "ratio": round(ratio, 2),
                "median (s)": round(float(medians.get(channel, float("nan"))), 1),
                "max (s)": round(overall_max, 1),
            }
        )
        cap = world["latency"]["caps"].get(str(channel))
        if cap is not None:
            expectations.append(
                Expectation(
                    f"{channel} latency never above its cap",
                    f"max {overall_max:.1f} s",
                    f"≤ {cap:.0f} s",
                    judge(overall_max <= cap, n > 0),
                )
            )
        if channel == "email":
            median = float(medians.get("email", float("nan")))
            expectations.append(
                Expectation(
                    "email median latency",
                    f"{median:.1f} s",
                    "9–16 s",
                    judge(9 <= median <= 16, n >= _MIN_SAMPLE),
                )
            )
            expectations.append(
                Expectation(
                    "email top-of-hour spike (:00–:02 vs rest)",
                    f"{ratio:.2f}×",
                    "≥ 3×",
                    judge(ratio >= 3, top["n"].sum() >= _MIN_SAMPLE),
                )
            )
    return Section(
        "latency",
        "Delivery latency by minute of the hour",
        "Mean send→delivery latency per send minute, per channel. Sends at :00–:02 queue "
        "behind every scheduled campaign, so email latency spikes there; :15/:30/:45 spike less.",
        plots.latency_by_minute(frame),
        pd.DataFrame(summary_rows),
        expectations,
    )


def _heatmap(store: Queryable, db: str, world: dict[str, Any]) -> Section:
    frame = data.heatmap(store, db)
    personas = {p["name"]: p for p in world.get("personas", [])}
    rows, expectations = [], []
    for name, persona in personas.items():
        peaks = _hours(persona.get("peak_hours"))
        days = {int(d) for d in persona.get("active_days", range(7))}
        sub = frame[frame["persona"] == name]
        if not peaks or peaks == set(range(24)):
            continue
        inside = sub["hour"].isin(peaks) & sub["dow"].isin(days)
        r_in = _rate(sub[inside]["opened"].sum(), sub[inside]["delivered"].sum())
        r_out = _rate(sub[~inside]["opened"].sum(), sub[~inside]["delivered"].sum())
        lift = r_in / r_out if r_out else float("nan")
        target = 1.3 if name == "morning_person" else 1.0
        enough = sub[inside]["delivered"].sum() >= _MIN_SAMPLE
        rows.append(
            {
                "persona": name,
                "open rate in peak hours × active days": round(r_in, 3),
                "open rate elsewhere": round(r_out, 3),
                "lift": round(lift, 2),
            }
        )
        cmp = "≥" if target > 1 else ">"
        expectations.append(
            Expectation(
                f"{name}: peaks recovered",
                f"{lift:.2f}×",
                f"{cmp} {target:.1f}×",
                judge(lift >= target if target > 1 else lift > target, enough),
            )
        )
    return Section(
        "heatmap",
        "Engagement by local delivery hour × weekday, per persona",
        "Opens per delivered message by the hour and weekday of delivery on the recipient's own "
        "clock (its IANA zone; none = UTC). Boxes mark each persona's configured peak hours on "
        "its active days.",
        plots.heatmaps(frame, personas),
        pd.DataFrame(rows),
        expectations,
    )


def _fatigue(store: Queryable, db: str, world: dict[str, Any]) -> Section:
    frame = data.fatigue(store, db)
    frame["open_rate"] = frame["opened"] / frame["sends"].where(frame["sends"] > 0)
    rates = dict(zip(frame["prior_sends"], frame["open_rate"], strict=True))
    sizes = dict(zip(frame["prior_sends"], frame["sends"], strict=True))
    r0, r3 = rates.get(0, float("nan")), rates.get(3, float("nan"))
    ratio = r3 / r0 if r0 else float("nan")
    enough = sizes.get(3, 0) >= _MIN_SAMPLE and sizes.get(0, 0) >= _MIN_SAMPLE
    return Section(
        "fatigue",
        "Campaign fatigue",
        "Open rate of a send by the number of sends the user got in the previous 24 hours "
        "(model: ×1.0, ×0.95, ×0.85, ×0.60 for 0, 1, 2, 3+).",
        plots.fatigue(frame),
        frame.round(4),
        [
            Expectation(
                "engagement after 3+ sends vs none",
                f"{ratio:.2f}×",
                "< 0.9× (clearly below)",
                judge(ratio < 0.9, enough),
            )
        ],
    )


def _hot_paths(store: Queryable, db: str, world: dict[str, Any]) -> Section:
    frame = data.hot_path_lift(store, db)
    frame["open_rate"] = frame["opened"] / frame["delivered"].where(frame["delivered"] > 0)
    by = frame.set_index("since_hot_path")
    base = by["open_rate"].get("none in 30 min", float("nan"))
    soon = by["open_rate"].get("0-10 min", float("nan"))
    n_soon = int(by["delivered"].get("0-10 min", 0))
    lift = soon / base if base else float("nan")
    return Section(
        "hot_paths",
        "Hot-path lift",
        "Open rate of deliveries by minutes since the user's latest site_visit, sms_click or "
        "product_view (model: ×(1 + e^(−m/15)) within 30 minutes). Rare by chance in the history.",
        plots.hot_paths(frame),
        frame.round(4),
        [
            Expectation(
                "deliveries 0–10 min after a hot path engage more",
                f"{lift:.2f}× (n={n_soon})",
                "> 1×",
                judge(lift > 1, n_soon >= _MIN_SAMPLE),
            )
        ],
    )


def _breakers(store: Queryable, db: str, world: dict[str, Any]) -> Section:
    windows: dict[str, float] = world["circuit_breakers"]["hours"]
    inside = data.breaker_violations(store, db, windows)
    around = data.sends_around_breakers(store, db)
    counts = dict(zip(inside["breaker"], inside["sends_inside"], strict=True))
    expectations = [
        Expectation(
            f"no sends inside {name} suppression ({hours:g} h)",
            f"{int(counts.get(name, 0))} sends",
            "0",
            judge(int(counts.get(name, 0)) == 0),
        )
        for name, hours in windows.items()
    ]
    return Section(
        "breakers",
        "Sends around circuit breakers",
        "Sends per hour relative to each support_ticket, complaint and unsubscribe_request; the "
        "shaded span is the suppression window, which must stay empty.",
        plots.breakers(around, windows),
        pd.DataFrame(
            {
                "breaker": list(windows),
                "sends inside window": [int(counts.get(n, 0)) for n in windows],
            }
        ),
        expectations,
    )


def _mix(store: Queryable, db: str, world: dict[str, Any]) -> Section:
    frame = data.event_mix(store, db)
    shape = data.dataset_shape(store, db).iloc[0]
    total, users, days = int(shape["events"]), int(shape["users"]), int(shape["days"] or 0)
    history = world.get("history", {})
    full = users >= int(history.get("users", 350)) and days >= 100
    by_type = frame.groupby("event_type")["events"].sum()
    user_days = max(users * days, 1)
    hot = sum(int(by_type.get(t, 0)) for t in ("site_visit", "sms_click", "product_view"))
    cb = sum(int(by_type.get(t, 0)) for t in world["circuit_breakers"]["hours"])
    return Section(
        "mix",
        "Event mix",
        f"{total:,} events from {users} users over {days} days "
        f"({shape['first_day']} to {shape['last_day']}), by type and channel.",
        plots.event_mix(frame),
        frame.pivot_table(index="event_type", columns="channel", values="events", fill_value=0),
        [
            Expectation(
                "total events (full history)",
                f"{total:,}",
                "80,000–100,000",
                judge(80_000 <= total <= 100_000, full),
            ),
            Expectation(
                "hot-path events per user-day",
                f"{hot / user_days:.2%}",
                "≈5% (3–7%)",
                judge(0.03 <= hot / user_days <= 0.07, full),
            ),
            Expectation(
                "circuit breakers per user-day",
                f"{cb / user_days:.2%}",
                "≈1% (0.5–1.5%)",
                judge(0.005 <= cb / user_days <= 0.015, full),
            ),
        ],
    )


_BUILDERS: list[Callable[[Queryable, str, dict[str, Any]], Section]] = [
    _mix,
    _latency,
    _heatmap,
    _fatigue,
    _hot_paths,
    _breakers,
]


def build_sections(store: Queryable, database: str, world: dict[str, Any]) -> list[Section]:
    """Measure every behaviour; ``world`` is the generator's world file as a dict."""
    return [build(store, database, world) for build in _BUILDERS]
