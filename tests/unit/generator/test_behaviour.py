"""Every behaviour of docs/behaviour-model.md shows in a fixed-seed dry run of the full history."""

from __future__ import annotations

import numpy as np

from sendflowr.generator.model import DAY_MS, HOUR_MS, hour_minute_weekday
from sendflowr.timing.zones import table_for
from tests.unit.generator.conftest import CODE, History


def test_total_events_in_the_seed_range(history: History) -> None:
    assert 80_000 <= len(history.block) <= 100_000
    assert len(history.truths) == 350
    assert np.unique(history.block.user).size == 350


def test_every_event_type_is_emitted(history: History) -> None:
    counts = np.bincount(history.block.etype, minlength=len(CODE))
    assert all(counts > 0), dict(zip(CODE, counts, strict=True))


def test_latency_medians_and_caps_per_channel(history: History) -> None:
    d = history.of("delivered")
    email = d.latency[d.channel == 0]
    assert 9 <= np.median(email) <= 16
    assert email.max() <= 900
    assert d.latency[d.channel == 1].max() <= 120
    assert d.latency[d.channel == 2].max() <= 30
    # the delivered timestamp is the send time plus the latency (causality)
    assert np.all(np.abs(d.ts - d.send_ms - d.latency * 1000) <= 1)


def test_top_of_hour_email_latency_at_least_three_times_the_rest(history: History) -> None:
    d = history.of("delivered")
    _, minute, _ = hour_minute_weekday(d.send_ms)
    email = d.channel == 0
    top = np.median(d.latency[email & (minute <= 2)])
    rest = np.median(d.latency[email & (minute > 2)])
    assert top >= 3 * rest


def test_queue_depth_capped_and_congested_at_top_of_hour(history: History) -> None:
    d = history.of("delivered")
    _, minute, _ = hour_minute_weekday(d.send_ms)
    assert d.queue.max() <= 10_000
    email = d.channel == 0
    assert np.median(d.queue[email & (minute <= 2)]) > 4 * np.median(d.queue[email & (minute > 2)])


def _open_rates(history: History, persona: int) -> tuple[float, float, int]:
    model = history.model
    d = history.of("delivered")
    d = d.take(model.layout[d.user % len(model.layout)] == persona)
    opened = np.isin(history.message_key(d), history.message_key(history.of("opened")))
    hour, _, weekday = hour_minute_weekday(history.local_ms(d))  # persona hours are local
    p = model.world.personas[persona]
    inside = np.isin(hour, p.hours("peak")) & np.isin(weekday, p.active_days)
    return float(opened[inside].mean()), float(opened[~inside].mean()), int(inside.sum())


def test_opens_higher_in_peak_hours_on_active_days_for_every_persona(history: History) -> None:
    checked = 0
    for i, persona in enumerate(history.model.world.personas):
        peaks = persona.hours("peak")
        if not peaks or len(peaks) == 24:
            continue
        inside, outside, n = _open_rates(history, i)
        assert n >= 30, persona.name
        assert inside > outside, (persona.name, inside, outside)
        if persona.name == "morning_person":
            assert inside >= 1.3 * outside
        checked += 1
    assert checked == 7


def test_no_send_inside_a_suppression_window(history: History) -> None:
    sent = history.of("sent")
    windows = 0
    for truth in history.truths:
        mine = sent.ts[sent.user == truth.index]
        for _, start, end in truth.suppressions:
            windows += 1
            assert not np.any((mine >= start) & (mine < end))
    assert windows > 200


def test_circuit_breakers_are_emitted_with_their_windows(history: History) -> None:
    for truth in history.truths[:50]:
        for etype, start, end in truth.suppressions:
            assert (end - start) // HOUR_MS == {"unsubscribe_request": 168}.get(etype, 48)


def test_fatigue_lowers_engagement_after_three_sends(history: History) -> None:
    b = history.block
    sent, d = history.of("sent"), history.of("delivered")
    prior = np.empty(len(d), dtype=np.int64)
    order = np.lexsort((sent.ts, sent.user))
    s_user, s_ts = sent.user[order], sent.ts[order]
    lo = np.searchsorted(s_user * (1 << 42) + s_ts, d.user * (1 << 42) + d.ts - DAY_MS, "right")
    me = np.searchsorted(s_user * (1 << 42) + s_ts, d.user * (1 << 42) + d.send_ms, "left")
    prior = me - lo
    opened = np.isin(history.message_key(d), history.message_key(history.of("opened")))
    none, tired = opened[prior == 0].mean(), opened[prior >= 3].mean()
    assert (prior >= 3).sum() >= 300
    assert tired < 0.85 * none, (tired, none)
    assert len(b) > 0


def test_hot_path_and_circuit_breaker_shares_of_user_days(history: History) -> None:
    b = history.block
    user_days = 350 * 101
    hot = np.isin(b.etype, [CODE["site_visit"], CODE["sms_click"], CODE["product_view"]]).sum()
    cb = np.isin(
        b.etype, [CODE["support_ticket"], CODE["complaint"], CODE["unsubscribe_request"]]
    ).sum()
    assert 0.04 <= hot / user_days <= 0.06
    assert 0.007 <= cb / user_days <= 0.013


def test_hot_paths_happen_at_active_hours(history: History) -> None:
    model = history.model
    for truth in history.truths:
        hours = set(model.active_hours[truth.persona_index].tolist())
        for _, at in truth.hot_paths:  # at a local hour the persona is active
            wall = table_for(truth.timezone, [at]).to_wall([at])
            assert int(hour_minute_weekday(wall)[0][0]) in hours


def test_delivery_rate_and_engagement_order(history: History) -> None:
    sent, d = history.of("sent"), history.of("delivered")
    assert 0.985 <= len(d) / len(sent) <= 0.995
    o, c = history.of("opened"), history.of("clicked")
    assert np.all(o.ts > o.send_ms) and np.all(c.ts > c.send_ms)
    # every click follows an open of the same message by 1-60 minutes
    ko, kc = history.message_key(o), history.message_key(c)
    assert np.isin(kc, ko).all()
    open_ts = dict(zip(ko.tolist(), o.ts.tolist(), strict=True))
    gaps = np.array([t - open_ts[k] for k, t in zip(kc.tolist(), c.ts.tolist(), strict=True)])
    assert gaps.min() >= 60_000 and gaps.max() <= 3_600_000


def test_sends_are_between_six_and_twenty_three_on_the_campaigns_clock(history: History) -> None:
    model, sent = history.model, history.of("sent")
    local = model.campaign_local[sent.campaign]
    sender = model.world.timezones.sender_zone
    wall = np.where(local, history.local_ms(sent), table_for(sender, sent.ts).to_wall(sent.ts))
    hour, _, _ = hour_minute_weekday(wall)
    assert hour.min() >= 6 and hour.max() <= 22
    assert local.any() and (~local).any()


def test_drift_moves_rates_monthly_within_bounds(history: History) -> None:
    world = history.model.world
    for truth in history.truths:
        p = world.personas[truth.persona_index]
        assert np.all((truth.click_rates >= 0.01) & (truth.click_rates <= 0.5))
        assert np.all((truth.open_rates >= 0.05) & (truth.open_rates <= 0.7))
        steps = np.concatenate([[p.click_rate], truth.click_rates])
        ratio = steps[1:] / steps[:-1]
        assert np.all(np.abs(ratio - 1) <= p.drift + 1e-12)
    moved = [
        t for t in history.truths if t.click_rates[-1] != world.personas[t.persona_index].click_rate
    ]
    assert len(moved) == 350
