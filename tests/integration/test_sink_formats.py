"""The JSONEachRow insert path stores exactly the rows the Arrow path stores (real chDB)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import pytest

from sendflowr.events import CanonicalEvent, encode_event
from sendflowr.sink.dedup import RecentIds
from sendflowr.sink.enrich import Enricher
from sendflowr.sink.jsonrows import StoredEvent
from sendflowr.sink.metrics import SinkMetrics
from sendflowr.sink.records import decode_records
from sendflowr.sink.writer import ChunkWriter
from sendflowr.store import ClickHouseStore
from sendflowr.store.schema import EVENT_COLUMN_NAMES
from tests.conftest import unique_name
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


def _events() -> list[CanonicalEvent]:
    events = make_events(400, seed=13)
    rng = random.Random(5)
    for i, text in enumerate(HOSTILE):
        events.append(
            make_event(
                rng,
                1000 + i,
                subject=text,
                campaign_name=text,
                user_agent=text,
                click_url=text,
                bounce_type=text[:5],
                metadata={"note": text, text: [text, 1.5, -0.0, 10**18, None, True]},
            )
        )
    odd = make_events(12, seed=17)
    odd[0].timestamp = datetime(2025, 10, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    odd[1].timestamp = datetime(
        2025, 10, 1, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    odd[2].send_time = datetime(1900, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    odd[3].ingested_at = datetime(2299, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    odd[4].metadata = {}
    odd[4].channel = "sms"
    odd[5].channel = "push"
    odd[5].metadata = {"channel": "sms", "campaign_type": "x", "payload_size_bytes": 2**32 - 1}
    odd[6].latency_seconds = 0.1 + 0.2
    odd[7].latency_seconds = 5e-324
    odd[8].latency_seconds = 1.7976931348623157e308
    odd[9].payload_size_bytes, odd[9].queue_depth_estimate = 2**32 - 1, 0
    odd[10].event_type, odd[10].user_agent = (
        "opened",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    )
    odd[11].ip_address, odd[11].event_type = "17.58.1.2", "clicked"
    for event in odd[:4]:
        # msgspec and orjson spell these floats differently: the block takes orjson's.
        event.metadata = {"f": 1e-7, "g": 123456.789e10, "h": 1.5e300, "u": "é\u00e9"}
    return events + odd


def _values(events: list[CanonicalEvent]) -> list[bytes]:
    """Canonical encodings, plus a few spellings another producer might use."""
    values = [encode_event(e) for e in events]
    values[0] = values[0].replace(b'{"event_type"', b'{ "event_type" ', 1).replace(b",", b" ,\n ")
    values[1] = values[1].replace(b'"esp":"klaviyo"', b'"esp":"kl\\u0061viyo"')
    return values


def _write(store: ClickHouseStore, fmt: Literal["json", "arrow"], values: list[bytes]) -> None:
    records = [FakeRecord(v, i) for i, v in enumerate(values)]
    events, _sources, dead = decode_records(
        records, StoredEvent if fmt == "json" else CanonicalEvent
    )
    assert dead == []
    Enricher().enrich(events)
    writer = ChunkWriter(
        store,
        SinkMetrics(),
        lookup=None,
        recent=RecentIds(10_000),
        stopping=threading.Event(),
        clock=lambda: NOW,
        insert_format=fmt,
    )
    # Two chunks: the odd events' metadata floats take encode_rows' slower branch.
    for part, chunk in enumerate((events[:-12], events[-12:])):
        result = writer.write(chunk, f"formats:{fmt}:{part}")
        assert (result.stored, result.rejected) == (len(chunk), [])


@pytest.fixture
def arrow_store(make_settings: Any) -> Iterator[ClickHouseStore]:
    st = ClickHouseStore(make_settings(clickhouse_database=unique_name("db")))
    st.start()
    try:
        yield st
    finally:
        st.command(f"DROP DATABASE IF EXISTS `{st.database}`")
        st.stop()


def _rows(store: ClickHouseStore) -> list[tuple[Any, ...]]:
    # hex() of each column's text: byte for byte, whatever the driver decodes.
    columns = ", ".join(f"hex(toString(`{c}`))" for c in EVENT_COLUMN_NAMES)
    return store.query(
        f"SELECT {columns} FROM {store.events_table} ORDER BY event_id"  # noqa: S608
    ).rows


def test_json_and_arrow_paths_store_identical_rows(
    store: ClickHouseStore, arrow_store: ClickHouseStore
) -> None:
    values = _values(_events())
    _write(store, "json", values)
    _write(arrow_store, "arrow", values)
    json_rows, arrow_rows = _rows(store), _rows(arrow_store)
    assert len(json_rows) == len(values)
    for got, want in zip(json_rows, arrow_rows, strict=True):
        assert dict(zip(EVENT_COLUMN_NAMES, got, strict=True)) == dict(
            zip(EVENT_COLUMN_NAMES, want, strict=True)
        )
    hostile = store.query(
        f"SELECT subject FROM {store.events_table} WHERE subject IN {{texts:Array(String)}}",  # noqa: S608
        {"texts": list(HOSTILE)},
    ).rows
    assert sorted(r[0] for r in hostile) == sorted(HOSTILE)
