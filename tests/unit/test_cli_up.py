"""``sendflowr up``'s history period: ends today by default, pinned on request."""

from __future__ import annotations

from datetime import date

import pytest

from sendflowr.cli.up import history_period
from sendflowr.errors import ConfigError

TODAY = date(2026, 12, 2)


def test_default_history_ends_today_with_the_worlds_length() -> None:
    first, last = history_period(TODAY)
    assert last == TODAY
    assert (last - first).days == (date(2026, 1, 10) - date(2025, 10, 1)).days


def test_pinned_is_the_worlds_fixed_period() -> None:
    assert history_period(TODAY, pinned=True) == (date(2025, 10, 1), date(2026, 1, 10))


def test_explicit_start_and_end_win() -> None:
    assert history_period(TODAY, "2026-03-01", "2026-04-01") == (
        date(2026, 3, 1),
        date(2026, 4, 1),
    )
    first, last = history_period(TODAY, end="2026-06-01")
    assert last == date(2026, 6, 1) and (last - first).days == 101


@pytest.mark.parametrize(("start", "end"), [("2026-05-01", "2026-04-01"), ("May 1", None)])
def test_bad_periods_name_the_option(start: str, end: str | None) -> None:
    with pytest.raises(ConfigError):
        history_period(TODAY, start, end)
