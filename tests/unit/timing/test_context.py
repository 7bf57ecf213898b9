"""Modifiers: hot-path boost and decay, fatigue, circuit breakers overriding everything."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from sendflowr.errors import SuppressedError
from sendflowr.timing.context import (
    Context,
    Suppression,
    apply_modifiers,
    raise_if_blocked,
    suppression_block,
    suppressions_from_events,
)
from sendflowr.timing.grid import epoch_minute, from_epoch_minute

T0 = epoch_minute(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))


def test_hot_path_doubles_at_once_and_fades_to_nothing_after_30_minutes() -> None:
    minutes = np.arange(T0, T0 + 60, dtype=np.int64)
    base = np.ones(60)
    final, weights = apply_modifiers(base, minutes, Context(hot_paths=[T0]))
    assert final[0] == pytest.approx(2.0)
    assert final[15] == pytest.approx(1 + math.exp(-1))
    assert final[30] == pytest.approx(1 + math.exp(-2))
    assert (final[31:] == 1.0).all()
    assert (np.diff(final[:31]) < 0).all()  # a boost that decays, never a penalty
    assert "hot_path" in weights


def test_circuit_breaker_forces_zero_even_during_a_hot_path() -> None:
    minutes = np.arange(T0, T0 + 60, dtype=np.int64)
    ctx = Context(
        hot_paths=[T0],
        suppressions=[Suppression("support_ticket", T0 - 60, T0 + 20)],
    )
    final, weights = apply_modifiers(np.ones(60), minutes, ctx)
    assert (final[:20] == 0.0).all()
    assert final[20] == pytest.approx(1 + math.exp(-20 / 15))
    assert weights["circuit_breaker"][0] == -1.0


def test_fatigue_counts_sends_in_the_previous_24_hours() -> None:
    sends = [T0 - 23 * 60, T0 - 60, T0 - 30]
    minutes = np.asarray([T0, T0 + 61, T0 + 24 * 60 - 31, T0 + 24 * 60 - 30], dtype=np.int64)
    final, _ = apply_modifiers(np.ones(4), minutes, Context(recent_sends=sends))
    assert final.tolist() == pytest.approx([0.60, 0.85, 0.95, 1.0])


def test_suppression_lengths_and_permanent_ones() -> None:
    sup = suppressions_from_events(
        [
            ("support_ticket", T0),
            ("complaint", T0),
            ("unsubscribe_request", T0),
            ("unsubscribed", T0),
        ]
    )
    ends = {s.reason: s.end for s in sup}
    assert ends["support_ticket"] == T0 + 48 * 60
    assert ends["complaint"] == T0 + 48 * 60
    assert ends["unsubscribe_request"] == T0 + 168 * 60
    assert ends["unsubscribed"] is None


def test_window_inside_a_suppression_is_blocked_until_it_ends() -> None:
    sup = [
        Suppression("complaint", T0, T0 + 48 * 60),
        Suppression("support_ticket", T0 + 47 * 60, T0 + 50 * 60),
    ]
    found = suppression_block(sup, T0 + 10, T0 + 20)
    assert found is not None
    assert found[1] == T0 + 50 * 60  # chained breakers: blocked until the later one ends
    assert suppression_block(sup, T0 + 10, T0 + 51 * 60) is None
    with pytest.raises(SuppressedError) as info:
        raise_if_blocked(sup, T0, T0 + 60)
    assert info.value.until == from_epoch_minute(T0 + 50 * 60)


def test_marked_spam_blocks_forever() -> None:
    sup = suppressions_from_events([("marked_spam", T0 - 10_000)])
    with pytest.raises(SuppressedError) as info:
        raise_if_blocked(sup, T0, T0 + 7 * 1440)
    assert info.value.reason == "marked_spam"
    assert info.value.until is None
