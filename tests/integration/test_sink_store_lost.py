"""A store lost under the sink (its folder deleted, its database dropped) is refilled from
Kafka: a new events table with a group that had committed offsets replays the topic."""

from __future__ import annotations

from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.store import ClickHouseStore
from tests.integration.sink_support import event_records, lag, produce, wait_for
from tests.unit.sink.factory import make_events


def _drain(settings: Settings, store: ClickHouseStore) -> None:
    sink = SinkConsumer(settings, store)
    sink.start()
    try:
        wait_for(lambda: lag(settings) == 0, 120, "the sink to catch up")
    finally:
        sink.stop()


def _count(store: ClickHouseStore) -> int:
    return int(store.query(f"SELECT count() FROM {store.events_table}").scalar())  # noqa: S608


def test_a_new_events_table_is_refilled_from_the_topic(kafka_settings: Settings) -> None:
    settings = kafka_settings.model_copy(update={"sink_batch_size": 300})
    produce(settings, event_records(make_events(1_200, seed=41)))
    first = ClickHouseStore(settings)
    first.start()
    try:
        _drain(settings, first)
        assert _count(first) == 1_200
        again = ClickHouseStore(settings)
        again.start()
        assert not again.created_events_table  # the table is there: nothing to replay
        _drain(settings, again)
        assert _count(again) == 1_200

        first.command(f"DROP DATABASE `{settings.clickhouse_database}`")  # the store is lost
        fresh = ClickHouseStore(settings)
        fresh.start()
        assert fresh.created_events_table
        produce(settings, event_records(make_events(100, seed=42)))
        _drain(settings, fresh)
        assert _count(fresh) == 1_300
    finally:
        first.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")
        first.stop()


def test_an_empty_events_table_made_by_someone_else_is_refilled_too(
    kafka_settings: Settings,
) -> None:
    settings = kafka_settings.model_copy(update={"sink_batch_size": 300})
    produce(settings, event_records(make_events(600, seed=43)))
    store = ClickHouseStore(settings)
    store.start()
    try:
        _drain(settings, store)
        store.command(f"TRUNCATE TABLE {store.events_table}")  # e.g. a CLI made it anew
        again = ClickHouseStore(settings)
        again.start()
        assert not again.created_events_table
        _drain(settings, again)
        assert _count(again) == 600
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")
        store.stop()
