"""Training columns filled from the event, bot traffic flagged in metadata."""

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


def test_training_columns_come_from_send_time_and_metadata() -> None:
    rng = random.Random(1)
    event = make_event(
        rng,
        0,
        event_type="delivered",
        latency_seconds=None,
        campaign_type="",
        payload_size_bytes=None,
        queue_depth_estimate=None,
        metadata={
            "channel": "sms",
            "campaign_type": "transactional",
            "payload_size_bytes": 1024,
            "queue_depth_estimate": True,  # not a count: ignored
        },
    )
    assert event.send_time is not None
    Enricher().enrich([event])
    assert event.latency_seconds == (event.timestamp - event.send_time).total_seconds()
    assert (event.hour_of_day, event.minute, event.day_of_week) == (
        event.send_time.hour,
        event.send_time.minute,
        event.send_time.weekday(),
    )
    assert event.channel == "sms" and event.campaign_type == "transactional"
    assert event.payload_size_bytes == 1024 and event.queue_depth_estimate is None


def test_a_sent_event_is_its_own_send_time_and_values_it_carries_are_kept() -> None:
    rng = random.Random(2)
    sent = make_event(rng, 0, event_type="sent", hour_of_day=3)
    Enricher().enrich([sent])
    assert sent.send_time == sent.timestamp
    assert sent.hour_of_day == 3 and sent.minute == sent.timestamp.minute


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
    assert flagged == 1
    assert fast.metadata["suspected_bot"] is True
    assert fast.metadata["bot_reasons"] == ["open_within_2s"]
    assert "suspected_bot" not in slow.metadata and "suspected_bot" not in delivered.metadata


def test_an_open_carrying_its_send_time_and_latency_needs_no_delivered_event() -> None:
    rng = random.Random(4)
    opened = make_event(rng, 0, event_type="opened", message_id="other")
    opened.send_time = opened.timestamp - timedelta(seconds=10.5)
    opened.latency_seconds = 10.0
    Enricher().enrich([opened])
    assert opened.metadata["bot_reasons"] == ["open_within_2s"]
