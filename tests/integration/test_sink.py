"""The sink on the real broker and chDB: exactly-once rows, DLQ, enrichment, outages."""

from __future__ import annotations

import random
from typing import Any

import orjson

from sendflowr.errors import StoreError
from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.store import ClickHouseStore
from tests.integration.sink_support import (
    event_records,
    lag,
    produce,
    read_dlq,
    reset_group_to_earliest,
    wait_for,
)
from tests.unit.sink.factory import make_event, make_events


def _drain(settings: Settings, store: Any, produced: int, timeout: float = 120) -> SinkConsumer:
    """Run a sink until its group has no lag on ``produced`` records, then stop it."""
    sink = SinkConsumer(settings, store)
    sink.start()
    try:
        wait_for(
            lambda: (
                sink.stats.stored + sink.stats.duplicates + sink.stats.dead_letters >= produced
                and lag(settings) == 0
            ),
            timeout,
            "the sink to catch up",
        )
    finally:
        sink.stop()
    assert not sink.running
    return sink


def _count(store: ClickHouseStore) -> tuple[int, int]:
    row = store.query(f"SELECT count(), uniqExact(event_id) FROM {store.events_table}").rows[0]  # noqa: S608
    return int(row[0]), int(row[1])


def test_20000_events_stored_once_and_a_group_reset_adds_nothing(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    settings = kafka_settings.model_copy(update={"sink_batch_size": 3_000})
    produced = produce(settings, event_records(make_events(20_000, seed=1)))
    assert produced == 20_000
    first = _drain(settings, sink_store, produced)
    assert first.stats.stored == 20_000
    assert _count(sink_store) == (20_000, 20_000)

    reset_group_to_earliest(settings)
    assert lag(settings) == 20_000
    again = _drain(settings, sink_store, produced)
    assert again.stats.stored == 0 and again.stats.duplicates == 20_000
    assert _count(sink_store) == (20_000, 20_000)


def test_poison_records_go_to_the_dlq_with_reasons_and_the_partition_moves_on(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    valid = event_records(make_events(2_000, seed=2))
    bad_event = orjson.dumps({"event_id": "not-a-uuid", "event_type": "opened"})
    poisons: list[tuple[bytes | None, bytes | None]] = []
    for i in range(100):
        kind = i % 4
        key = f"poison-{i}".encode()
        if kind == 0:
            poisons.append((key, b'{"event_type": "opened", "timestamp": '))  # truncated JSON
        elif kind == 1:
            poisons.append((key, b'{"subject": "\xff\xfe broken"}'))  # invalid UTF-8
        elif kind == 2:
            poisons.append((key, bad_event))  # valid JSON, invalid event
        else:
            poisons.append((key, None))  # no value at all
    records = list(valid)
    rng = random.Random(3)
    for poison in poisons:
        records.insert(rng.randrange(len(records) + 1), poison)
    settings = kafka_settings.model_copy(update={"sink_batch_size": 500})
    produce(settings, records)

    _drain(settings, sink_store, len(records))
    assert _count(sink_store) == (2_000, 2_000)
    assert lag(settings) == 0
    letters = read_dlq(settings, 100)
    assert len(letters) == 100
    reasons: dict[str, int] = {}
    by_key = dict(poisons)
    for message in letters:
        headers = {k: v.decode() for k, v in message.headers()}
        reasons[headers["sendflowr.dlq.reason"]] = (
            reasons.get(headers["sendflowr.dlq.reason"], 0) + 1
        )
        assert headers["sendflowr.dlq.topic"] == settings.topic
        assert int(headers["sendflowr.dlq.offset"]) >= 0
        assert headers["sendflowr.dlq.detail"]
        assert message.value() == by_key[message.key()]
    assert reasons == {
        "malformed_json": 25,
        "invalid_utf8": 25,
        "schema_invalid": 25,
        "empty_value": 25,
    }


def test_hostile_strings_read_back_byte_identical(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    hostile = [
        "'); DROP TABLE email_events; --",
        "quote \" and ' and ` backtick",
        "back\\slash \\' \\\\ end\\",
        "nul \x00 inside",
        "emoji 🌸🚀 and 中文 and \u202e rtl",
        "tab\tnewline\ncr\r",
    ]
    rng = random.Random(4)
    events = [
        make_event(
            rng,
            i,
            subject=text,
            campaign_name=text,
            user_agent=text,
            click_url=text,
            metadata={"note": text, text: [text]},
        )
        for i, text in enumerate(hostile)
    ]
    produce(kafka_settings, event_records(events))
    _drain(kafka_settings, sink_store, len(events))
    for event, text in zip(events, hostile, strict=True):
        row = sink_store.query(
            f"SELECT subject, campaign_name, user_agent, click_url, metadata "  # noqa: S608
            f"FROM {sink_store.events_table} WHERE event_id = {{id:UUID}}",
            {"id": event.event_id},
        ).rows
        assert row[0][:4] == (text, text, text, text)
        meta = orjson.loads(row[0][4])
        assert meta["note"] == text and meta[text] == [text]


def test_same_event_id_at_two_offsets_is_stored_once(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    events = make_events(300, seed=5)
    # A client re-sent the first 100 after a 503: same ids, later offsets.
    produce(kafka_settings, event_records(events + events[:100]))
    first = _drain(kafka_settings, sink_store, 400)
    assert _count(sink_store) == (300, 300)
    assert first.stats.duplicates == 100
    # And again much later, from a fresh process memory: the store lookup drops them.
    produce(kafka_settings, event_records(events[100:200]))
    second = _drain(kafka_settings, sink_store, 100)
    assert second.stats.duplicates == 100
    assert _count(sink_store) == (300, 300)


def test_training_columns_and_bot_flags_are_filled(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    rng = random.Random(6)
    delivered = make_event(rng, 0, event_type="delivered", message_id="m-1")
    human_ip = "10.1.2.3"
    events = [
        delivered,
        make_event(
            rng,
            1,
            event_type="opened",
            message_id="m-1",
            timestamp=delivered.timestamp,  # a human does not open within 2 s
            ip_address=human_ip,
        ),
        make_event(
            rng,
            2,
            event_type="opened",
            user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko)",
            ip_address="17.58.1.2",
        ),
        make_event(rng, 3, event_type="clicked", user_agent="Googlebot/2.1", ip_address=human_ip),
        make_event(rng, 4, event_type="clicked", ip_address=human_ip),
    ]
    produce(kafka_settings, event_records(events))
    _drain(kafka_settings, sink_store, len(events))
    rows = {
        str(r[0]): r[1:]
        for r in sink_store.query(
            f"SELECT event_id, metadata, hour_of_day, minute, day_of_week "  # noqa: S608
            f"FROM {sink_store.events_table}"
        ).rows
    }
    flags = {i: orjson.loads(rows[e.event_id][0]).get("bot_reasons") for i, e in enumerate(events)}
    assert flags[0] is None and flags[4] is None
    assert flags[1] == ["open_within_2s"]
    assert flags[2] == ["apple_privacy_proxy", "scanner_ip"]
    assert flags[3] == ["bot_user_agent"]
    assert delivered.send_time is not None
    assert rows[delivered.event_id][1:] == (
        delivered.send_time.hour,
        delivered.send_time.minute,
        delivered.send_time.weekday(),
    )


class _FlakyStore:
    """The real store, but the first ``failures`` inserts fail as in an outage."""

    def __init__(self, store: ClickHouseStore, failures: int) -> None:
        self._store = store
        self.failures = failures
        self.tokens: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def insert_select(self, *args: Any, dedup_token: str | None = None, **kwargs: Any) -> None:
        self.tokens.append(dedup_token)
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("Connection refused (simulated outage)")
        self._store.insert_select(*args, dedup_token=dedup_token, **kwargs)


def test_store_outage_retries_the_same_batch_and_commits_after(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    settings = kafka_settings.model_copy(update={"sink_batch_size": 1_000})
    produce(settings, event_records(make_events(3_000, seed=8)))
    flaky = _FlakyStore(sink_store, failures=4)
    sink = _drain(settings, flaky, 3_000)
    assert flaky.failures == 0
    # The failed attempts were retried with the very same token, never a new one.
    failed_tokens = flaky.tokens[:4]
    assert len(set(failed_tokens)) == 1
    assert flaky.tokens[4] == failed_tokens[0]
    assert sink.metrics.insert_failures._value.get() == 4
    assert _count(sink_store) == (3_000, 3_000)


def test_two_consumers_in_the_group_split_partitions_through_rebalances(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    settings = kafka_settings.model_copy(update={"sink_batch_size": 200, "sink_max_wait_ms": 50})
    events = make_events(9_000, seed=9)
    produce(settings, event_records(events[:3_000]))
    first = SinkConsumer(settings, sink_store)
    first.start()
    second = SinkConsumer(settings, sink_store)
    try:
        wait_for(lambda: first.stats.stored > 0, 60, "the first consumer to store rows")
        second.start()  # a rebalance: some partitions move to the second consumer
        wait_for(lambda: bool(second.partitions), 60, "the second consumer to get partitions")
        assert set(first.partitions).isdisjoint(second.partitions)
        produce(settings, event_records(events[3_000:6_000]))
        wait_for(lambda: second.stats.stored > 0, 60, "the second consumer to store rows")
        first.stop()  # another rebalance: the second takes every partition
        produce(settings, event_records(events[6_000:]))
        wait_for(lambda: lag(settings) == 0, 120, "the group to catch up")
    finally:
        first.stop()
        second.stop()
    assert first.stats.stored + second.stats.stored == 9_000
    assert _count(sink_store) == (9_000, 9_000)


def test_stopping_during_an_outage_commits_nothing_past_the_unwritten_batch(
    kafka_settings: Settings, sink_store: ClickHouseStore
) -> None:
    settings = kafka_settings.model_copy(
        update={"sink_batch_size": 500, "sink_dedup_lookup": False}
    )
    # One key, so one partition holds every record: records wait behind the failing batch.
    records = [(b"one-key", value) for _key, value in event_records(make_events(3_000, seed=10))]
    produce(settings, records)
    down = _FlakyStore(sink_store, failures=1_000_000)
    sink = SinkConsumer(settings, down)
    sink.start()
    try:
        wait_for(lambda: sink.metrics.insert_failures._value.get() >= 2, 60, "a failed insert")
    finally:
        sink.stop()
    assert sink_store.count_events() == 0
    # Whatever was buffered behind the unwritten batch was not committed either.
    assert lag(settings) in (None, 3_000)
    healthy = _drain(settings, sink_store, 3_000)
    assert healthy.stats.stored == 3_000
    assert _count(sink_store) == (3_000, 3_000)
