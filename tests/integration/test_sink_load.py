"""The load statement on real chDB: values stored byte for byte, training columns filled."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import orjson

from sendflowr.clock import ManualClock
from sendflowr.events import CanonicalEvent, encode_event
from sendflowr.sink.dedup import RecentIds, shared_recent_ids
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.records import decode_records
from sendflowr.sink.writer import ChunkWriter
from sendflowr.store import ClickHouseStore
from tests.unit.sink.factory import FakeRecord, make_event, make_events

NOW = datetime(2026, 3, 4, 5, 6, 7, 891_000, tzinfo=UTC)
HOSTILE = (
    "'); DROP TABLE email_events; --",
    "quote \" and ' and ` backtick",
    "back\\slash \\' \\\\ end\\",
    "nul \x00 inside \x01\x1f\x7f",
    "emoji 🌸🚀 and 中文 and \u202e rtl \u2028\u2029",
    "tab\tnewline\ncr\r/slash",
)


def _write(store: ClickHouseStore, values: list[bytes], token: str = "load:0") -> Any:
    decoded = decode_records([FakeRecord(v, i) for i, v in enumerate(values)])
    assert decoded.dead == []
    writer = ChunkWriter(
        store,
        SinkMetrics(),
        lookup=None,
        recent=RecentIds(10_000),
        stopping=threading.Event(),
        clock=ManualClock(NOW),
    )
    return writer.write(decoded.events, decoded.lines, token)


def _row(store: ClickHouseStore, event_id: str) -> dict[str, Any]:
    result = store.query(
        f"SELECT * FROM {store.events_table} WHERE event_id = {{id:UUID}}",  # noqa: S608
        {"id": event_id},
    )
    assert len(result.rows) == 1
    return dict(zip(result.columns, result.rows[0], strict=True))


def test_hostile_texts_come_back_byte_for_byte(store: ClickHouseStore) -> None:
    rng = random.Random(5)
    events = [
        make_event(
            rng,
            i,
            subject=text,
            campaign_name=text,
            user_agent=text,
            click_url=text,
            bounce_type=text[:5],
            metadata={"note": text, text: [text, 1.5, -0.0, 10**18, None, True]},
        )
        for i, text in enumerate(HOSTILE)
    ]
    assert _write(store, [encode_event(e) for e in events]).stored == len(events)
    columns = ("subject", "campaign_name", "user_agent", "click_url", "bounce_type")
    for event in events:
        got = store.query(
            f"SELECT {', '.join(f'hex({c})' for c in columns)}, metadata "  # noqa: S608
            f"FROM {store.events_table} WHERE event_id = {{id:UUID}}",
            {"id": event.event_id},
        ).rows[0]
        assert list(got[:-1]) == [getattr(event, c).encode().hex().upper() for c in columns]
        assert orjson.loads(got[-1]) == event.metadata


def test_training_columns_are_filled_from_the_event_and_its_metadata(
    store: ClickHouseStore,
) -> None:
    rng = random.Random(8)
    india = timezone(timedelta(hours=5, minutes=30))
    sent_at = datetime(2025, 10, 5, 23, 50, 1, 250_000, tzinfo=india)  # Sunday 18:20 UTC
    delivered = make_event(
        rng,
        0,
        event_type="delivered",
        timestamp=sent_at + timedelta(seconds=12, microseconds=345),
        send_time=sent_at,
        latency_seconds=None,
        campaign_type="",
        payload_size_bytes=None,
        queue_depth_estimate=None,
        channel="email",
        metadata={
            "channel": "sms",
            "campaign_type": "transactional",
            "payload_size_bytes": 1024,
            "queue_depth_estimate": True,  # not a count: ignored
        },
    )
    sent = make_event(rng, 1, event_type="sent", hour_of_day=3, metadata={})
    opened = make_event(rng, 2, event_type="opened", ingested_at=NOW - timedelta(days=1))
    opened.metadata = {"channel": "fax", "payload_size_bytes": 2**32}  # neither is usable
    pushed = make_event(rng, 3, event_type="clicked", channel="push")
    pushed.metadata = {"channel": "sms"}  # the event's own channel wins over metadata
    nested = make_event(rng, 5, event_type="opened", channel="email")
    nested.metadata = {"app": {"channel": "email"}, "channel": "push"}  # the top-level key
    late = make_event(rng, 4, event_type="delivered", latency_seconds=None)
    late.send_time = late.timestamp + timedelta(seconds=5)  # clock skew: no negative latency
    every = (delivered, sent, opened, pushed, late, nested)
    assert _write(store, [encode_event(e) for e in every])

    row = _row(store, delivered.event_id)
    assert row["latency_seconds"] == 12.000345
    assert row["send_time"] == datetime(2025, 10, 5, 18, 20, 1, 250_000, tzinfo=UTC)
    assert (row["hour_of_day"], row["minute"], row["day_of_week"]) == (18, 20, 6)
    assert (row["channel"], row["campaign_type"]) == ("sms", "transactional")
    assert (row["payload_size_bytes"], row["queue_depth_estimate"]) == (1024, None)
    assert row["ingested_at"] == NOW

    row = _row(store, sent.event_id)
    assert row["send_time"] == sent.timestamp.replace(
        microsecond=sent.timestamp.microsecond // 1000 * 1000
    )
    assert (row["hour_of_day"], row["minute"]) == (3, sent.timestamp.minute)
    assert row["metadata"] == "{}" and row["latency_seconds"] is None

    row = _row(store, opened.event_id)
    assert row["send_time"] is None and row["hour_of_day"] is None
    assert (row["channel"], row["payload_size_bytes"]) == ("email", None)
    assert row["ingested_at"] == NOW - timedelta(days=1)

    assert _row(store, pushed.event_id)["channel"] == "push"
    assert _row(store, nested.event_id)["channel"] == "push"
    assert _row(store, late.event_id)["latency_seconds"] is None


def test_other_spellings_of_valid_events_are_stored_as_decoded(store: ClickHouseStore) -> None:
    events = make_events(4, seed=21)
    values = [encode_event(e) for e in events]
    values[0] = values[0].replace(b'{"event_type"', b'{\n  "event_type" ').replace(b",", b",\n  ")
    values[1] = values[1].replace(b'"esp":"klaviyo"', b'"esp":"kl\\u0061viyo"')
    values[2] = values[2][:-1] + b',"esp":"twice"}'  # a key given twice: JSON allows it
    values[3] = values[3][:-1] + b',"unknown_field":{"a":[1,2]}}'
    result = _write(store, values)
    assert (result.stored, result.rejected) == (4, [])
    assert _row(store, events[1].event_id)["esp"] == "klaviyo"
    assert _row(store, events[2].event_id)["esp"] == "twice"  # the last one, as decoded
    assert _row(store, events[0].event_id)["subject"] == events[0].subject


def test_a_replayed_chunk_adds_nothing(store: ClickHouseStore) -> None:
    values = [encode_event(e) for e in make_events(50, seed=3)]
    _write(store, values, token="t:0:0-49")
    _write(store, values, token="t:0:0-49")
    assert store.count_events() == 50


def test_the_id_memory_holds_the_whole_table_while_it_fits(store: ClickHouseStore) -> None:
    events: list[CanonicalEvent] = make_events(30, seed=4)
    _write(store, [encode_event(e) for e in events])
    memory = shared_recent_ids(store, capacity=100)
    assert memory.complete and all(e.event_id in memory for e in events)
    assert shared_recent_ids(store, capacity=100) is memory  # one per table in a process
    small = shared_recent_ids(store, capacity=10)
    assert not small.complete  # the table outgrew it: the store lookup stays on


def test_the_recipients_zone_is_stored_and_absent_is_empty(store: ClickHouseStore) -> None:
    zoned, plain = make_events(2, seed=8)
    zoned = msgspec.structs.replace(zoned, timezone="Asia/Kolkata")
    assert _write(store, [encode_event(zoned), encode_event(plain)]).stored == 2
    assert _row(store, zoned.event_id)["timezone"] == "Asia/Kolkata"
    assert _row(store, plain.event_id)["timezone"] == ""
