"""Bot traffic flagged in metadata (the training columns are filled by the load statement:
tests/integration/test_sink_load.py)."""

from __future__ import annotations

import random
from datetime import timedelta

from sendflowr.sink.enrich import Enricher, bot_reasons_for_client
from tests.unit.sink.factory import make_event

MPP = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
SAFARI = MPP + " Version/17.1 Safari/605.1.15"


def test_client_rules() -> None:
    assert bot_reasons_for_client(MPP, "10.0.0.1") == ["apple_privacy_proxy"]
    assert bot_reasons_for_client(SAFARI, "10.0.0.1") == []
    assert bot_reasons_for_client("", "66.249.70.1") == ["scanner_ip"]
    assert bot_reasons_for_client("", "66.102.8.9") == ["scanner_ip"]
    assert bot_reasons_for_client("", "66.250.0.1") == []
    assert bot_reasons_for_client("", "2001:db8::1") == []
    assert bot_reasons_for_client("", "not an ip") == []
    assert bot_reasons_for_client("Mozilla/5.0 (compatible; bingbot/2.0)", "") == ["bot_user_agent"]
    assert bot_reasons_for_client("AhrefsSpider", "17.1.2.3") == ["bot_user_agent", "scanner_ip"]


def test_an_open_within_two_seconds_of_its_delivery_is_flagged() -> None:
    rng = random.Random(3)
    delivered = make_event(rng, 0, event_type="delivered", message_id="m")
    fast = make_event(
        rng,
        1,
        event_type="opened",
        message_id="m",
        timestamp=delivered.timestamp + timedelta(seconds=1),
    )
    slow = make_event(
        rng,
        2,
        event_type="opened",
        message_id="m",
        timestamp=delivered.timestamp + timedelta(seconds=3),
    )
    flagged = Enricher().enrich([delivered, fast, slow])
    assert flagged == [1]
    assert fast.metadata["suspected_bot"] is True
    assert fast.metadata["bot_reasons"] == ["open_within_2s"]
    assert "suspected_bot" not in slow.metadata and "suspected_bot" not in delivered.metadata


def test_an_open_carrying_its_send_time_and_latency_needs_no_delivered_event() -> None:
    rng = random.Random(4)
    opened = make_event(rng, 0, event_type="opened", message_id="other")
    opened.send_time = opened.timestamp - timedelta(seconds=10.5)
    opened.latency_seconds = 10.0
    assert Enricher().enrich([opened]) == [0]
    assert opened.metadata["bot_reasons"] == ["open_within_2s"]


def test_flags_join_the_metadata_an_event_carries() -> None:
    rng = random.Random(5)
    clicked = make_event(rng, 0, event_type="clicked", ip_address="66.249.1.2")
    clicked.metadata = {"persona": "x", "suspected_bot": False}
    assert Enricher().enrich([clicked]) == [0]
    assert clicked.metadata == {
        "persona": "x",
        "suspected_bot": True,
        "bot_reasons": ["scanner_ip"],
    }
