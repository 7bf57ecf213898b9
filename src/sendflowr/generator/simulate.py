"""Simulate one user over a date range: signals, sends, delivery, engagement.

The behaviours are those of docs/behaviour-model.md.

Everything for a user is drawn from that user's own stream, vectorised over
the user's days and sends, so users are independent (shards are exact) and
the same seed always gives the same events, event ids included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from sendflowr.generator.block import EVENT_CODES, EventBlock
from sendflowr.generator.engagement import (
    affinity_at,
    draw_engagement,
    fatigue_multiplier,
    hot_path_boost,
    wake_open_delay,
)
from sendflowr.generator.esp_latency import queue_depth, sample_latency
from sendflowr.generator.model import DAY_MS, HOUR_MS, MINUTE_MS, Model, date_ms
from sendflowr.generator.population import User, user_rng
from sendflowr.generator.truth import UserTruth
from sendflowr.timing.zones import ZoneTable, table_for

__all__ = ["month_starts", "simulate_user"]

I64 = npt.NDArray[np.int64]
_CODE = {name: i for i, name in enumerate(EVENT_CODES)}
_SIGNAL_CHANNEL = {"sms_click": 1}


def month_starts(start: date, end: date) -> I64:
    """Epoch ms of the first day of each month from ``start``'s month past ``end`` + 2 days."""
    out: list[int] = []
    y, m = start.year, start.month
    limit = date_ms(end) + 2 * DAY_MS
    while True:
        ms = date_ms(date(y, m, 1))
        if out and ms > limit:
            break
        out.append(ms)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return np.array(out, dtype=np.int64)


def _drift(
    model: Model, persona: int, rng: np.random.Generator, months: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    p = model.world.personas[persona]
    lo_c, hi_c = model.world.drift.click_bounds
    lo_o, hi_o = model.world.drift.open_bounds
    steps = rng.uniform(1 - p.drift, 1 + p.drift, size=(months, 2))
    click, open_ = np.empty(months), np.empty(months)
    c, o = p.click_rate, p.open_rate
    for k in range(months):
        c = min(max(c * steps[k, 0], lo_c), hi_c)
        o = min(max(o * steps[k, 1], lo_o), hi_o)
        click[k], open_[k] = c, o
    return click, open_


def _block(n: int, user_index: int) -> dict[str, npt.NDArray[np.generic]]:
    minus = np.full(n, -1, dtype=np.int64)
    return {
        "user": np.full(n, user_index, dtype=np.int64),
        "send_seq": minus,
        "campaign": minus,
        "provider": minus,
        "channel": np.zeros(n, dtype=np.int64),
        "send_ms": minus,
        "latency": np.full(n, np.nan),
        "queue": minus,
        "payload": minus,
        "bounce": np.zeros(n, dtype=np.int64),
    }


@dataclass(frozen=True, slots=True)
class _Signals:
    hot_ms: I64
    hot_type: I64
    cb_names: list[str]
    cb_ms: I64
    cb_type: I64
    cb_end: I64


def _signals(
    model: Model, persona: int, rng: np.random.Generator, day_ms: I64, clock: ZoneTable
) -> _Signals:
    """Hot paths (~5% of user-days, at a local hour the persona is active) and circuit
    breakers (~1% of user-days, any time of day) with their suppression ends."""
    days = len(day_ms)
    hp = model.world.hot_paths
    hot_days = day_ms[rng.random(days) < hp.daily_probability]
    hours = model.active_hours[persona]
    hot_ms = (
        hot_days
        + hours[rng.integers(0, len(hours), len(hot_days))] * HOUR_MS
        + rng.integers(0, HOUR_MS, len(hot_days))
    )
    hot_ms = clock.to_utc(hot_ms)  # drawn on the local clock
    hot_type = rng.integers(0, len(hp.types), len(hot_days))
    cb = model.world.circuit_breakers
    names = list(cb.hours)
    cb_days = day_ms[rng.random(days) < cb.daily_probability]
    cb_ms = cb_days + rng.integers(0, DAY_MS, len(cb_days))
    cb_type = rng.integers(0, len(names), len(cb_days))
    hours_of = np.array([cb.hours[name] for name in names], dtype=np.int64)
    cb_end = cb_ms + hours_of[cb_type] * HOUR_MS
    return _Signals(hot_ms, hot_type, [str(n) for n in names], cb_ms, cb_type, cb_end)


def simulate_user(
    model: Model, who: User, seed: int, start: date, end: date
) -> tuple[EventBlock, UserTruth]:
    """Every event of ``who`` in ``[start, end)`` (sorted by time) and their ground truth."""
    world = model.world
    rng = user_rng(seed, who.stream)
    start_ms, days = date_ms(start), (end - start).days
    day_ms = start_ms + np.arange(days, dtype=np.int64) * DAY_MS
    months = month_starts(start, end)
    click_rates, open_rates = _drift(model, who.persona, rng, len(months))

    span = (start_ms - 2 * DAY_MS, start_ms + (days + 3) * DAY_MS)
    clock = table_for(who.zone, span)
    sender = table_for(world.timezones.sender_zone, span)

    sig = _signals(model, who.persona, rng, day_ms, clock)
    hot_ms, hot_type, cb_ms, cb_type, cb_end = (
        sig.hot_ms,
        sig.hot_type,
        sig.cb_ms,
        sig.cb_type,
        sig.cb_end,
    )
    hp, cb_names = world.hot_paths, sig.cb_names

    # Sends: Poisson per day (capped), a random minute in the send window.
    per_day = np.minimum(rng.poisson(model.sends_per_day, days), world.sends.max_per_day)
    send_ms = np.repeat(day_ms, per_day) + MINUTE_MS * rng.integers(
        world.sends.first_minute, world.sends.last_minute + 1, int(per_day.sum())
    )
    order = np.argsort(send_ms, kind="stable")
    send_ms = send_ms[order]
    n = len(send_ms)
    campaign = np.searchsorted(np.cumsum(model.campaign_p), rng.random(n), side="right")
    campaign = np.minimum(campaign, len(model.campaign_ids) - 1)
    cdf = model.campaign_provider_cdf[campaign]
    provider = np.minimum((cdf < rng.random(n)[:, None]).sum(axis=1), cdf.shape[1] - 1)
    # The window was drawn on a wall clock: the recipient's or the sender's, per campaign.
    send_ms = np.where(
        model.campaign_local[campaign], clock.to_utc(send_ms), sender.to_utc(send_ms)
    )
    order = np.argsort(send_ms, kind="stable")
    send_ms, campaign, provider = send_ms[order], campaign[order], provider[order]
    kept = np.ones(n, dtype=bool)
    for s, e in zip(cb_ms, cb_end, strict=True):
        kept &= ~((send_ms >= s) & (send_ms < e))
    send_ms, campaign, provider = send_ms[kept], campaign[kept], provider[kept]
    n = len(send_ms)
    channel = model.provider_channel[provider]

    # Payload, queue depth, latency, delivery.
    kb = np.where(channel == 0, model.campaign_kb[campaign], world.payload.non_email_kb)
    jitter = world.payload.jitter
    payload = (kb * 1024 * rng.uniform(1 - jitter, 1 + jitter, n)).astype(np.int64)
    depth = queue_depth(model, rng, send_ms, channel)
    latency = sample_latency(model, rng, send_ms, provider, payload, depth)
    arrive_ms = send_ms + np.round(latency * 1000).astype(np.int64)
    delivered = rng.random(n) < world.delivery.delivered_rate
    bounce = np.where(rng.random(n) < world.delivery.hard_bounce_share, 1, 2)

    # Engagement, judged at the delivery time.
    window = int(world.fatigue.window_hours * HOUR_MS)
    prior = np.arange(n) - np.searchsorted(send_ms, arrive_ms - window, side="right")
    fatigue = fatigue_multiplier(model, np.maximum(prior, 0))
    hot_sorted = np.concatenate([[np.iinfo(np.int64).min // 2], np.sort(hot_ms)])
    j = np.searchsorted(hot_sorted, arrive_ms, side="right") - 1
    since = np.where(j >= 1, (arrive_ms - hot_sorted[j]) / MINUTE_MS, np.nan)
    click_rate, open_rate = _rates(months, click_rates, open_rates, arrive_ms)
    drawn = draw_engagement(
        world,
        rng,
        affinity_at(model, who.persona, clock.to_wall(arrive_ms)),
        open_rate,
        click_rate,
        hot_path_boost(world, since) * fatigue,
    )
    opened = delivered & drawn.opened
    clicked = delivered & drawn.clicked
    if world.timezones.open_delay == "wakefulness":
        arrive_wall = clock.to_wall(arrive_ms)
        cap = world.engagement.open_delay_cap_minutes * MINUTE_MS
        delay = wake_open_delay(model, who.persona, arrive_wall, drawn.open_delay_ms, cap)
        open_ms = np.maximum(clock.to_utc(arrive_wall + delay), arrive_ms)
    else:
        open_ms = arrive_ms + drawn.open_delay_ms
    click_ms = open_ms + drawn.click_delay_ms

    # Assemble: message events share the send's columns, signals get their own.
    seq = np.arange(n, dtype=np.int64)
    parts = [
        (_CODE["sent"], np.ones(n, dtype=bool), send_ms),
        (_CODE["delivered"], delivered, arrive_ms),
        (_CODE["bounced"], ~delivered, arrive_ms),
        (_CODE["opened"], opened, open_ms),
        (_CODE["clicked"], clicked, click_ms),
    ]
    cols: dict[str, list[npt.NDArray[np.generic]]] = {}
    for code, mask, ts in parts:
        k = int(mask.sum())
        vals = {
            "user": np.full(k, who.index, dtype=np.int64),
            "etype": np.full(k, code, dtype=np.int64),
            "ts": ts[mask],
            "send_seq": seq[mask],
            "campaign": campaign[mask],
            "provider": provider[mask],
            "channel": channel[mask],
            "send_ms": send_ms[mask],
            "latency": np.where(code == _CODE["delivered"], latency[mask], np.nan),
            "queue": depth[mask],
            "payload": payload[mask],
            "bounce": bounce[mask] if code == _CODE["bounced"] else np.zeros(k, dtype=np.int64),
        }
        for name, arr in vals.items():
            cols.setdefault(name, []).append(arr)
    for names, codes, times in (
        (hp.types, hot_type, hot_ms),
        (cb_names, cb_type, cb_ms),
    ):
        k = len(times)
        vals = _block(k, who.index)
        etype = np.array([_CODE[names[t]] for t in codes], dtype=np.int64)
        vals["etype"], vals["ts"] = etype, times
        vals["channel"] = np.array(
            [_SIGNAL_CHANNEL.get(names[t], 0) for t in codes], dtype=np.int64
        )
        for name, arr in vals.items():
            cols.setdefault(name, []).append(arr)
    merged = {name: np.concatenate(arrs) for name, arrs in cols.items()}
    order = np.lexsort((merged["etype"], merged["ts"]))
    total = len(order)
    rand = rng.integers(0, np.iinfo(np.uint64).max, size=(2, total), dtype=np.uint64, endpoint=True)
    block = EventBlock(
        **{name: arr[order] for name, arr in merged.items()}, rand_hi=rand[0], rand_lo=rand[1]
    )
    truth = UserTruth(
        index=who.index,
        recipient_id=who.recipient_id,
        email_hash=who.email_hash,
        universal_id=who.universal_id,
        persona=model.persona_names[who.persona],
        persona_index=who.persona,
        month_start_ms=months,
        click_rates=click_rates,
        open_rates=open_rates,
        suppressions=[
            (cb_names[t], int(s), int(e)) for t, s, e in zip(cb_type, cb_ms, cb_end, strict=True)
        ],
        hot_paths=[(hp.types[t], int(m)) for t, m in zip(hot_type, hot_ms, strict=True)],
        timezone=who.zone,
    )
    return block, truth


def _rates(
    months: I64, click: npt.NDArray[np.float64], open_: npt.NDArray[np.float64], ms: I64
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    idx = np.clip(np.searchsorted(months, ms, side="right") - 1, 0, len(months) - 1)
    return click[idx], open_[idx]
