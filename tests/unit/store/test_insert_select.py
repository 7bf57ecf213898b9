"""How ``insert_select`` sends data to a ClickHouse server: in the request body, read by
``input()`` (the embedded path, through ``file()``, runs in tests/integration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sendflowr.settings import Settings
from sendflowr.sink.loadsql import LINE_FORMAT, LINE_SETTINGS, LINE_STRUCTURE, SELECT_FILLED
from sendflowr.store import ClickHouseStore


class _Client:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def command(self, cmd: str, **kwargs: Any) -> None:
        self.calls.append({"cmd": cmd, **kwargs})


def test_a_server_gets_the_block_as_the_request_body(tmp_path: Path) -> None:
    store = ClickHouseStore(Settings(home=tmp_path, clickhouse_url="http://clickhouse:8123"))
    client = _Client()
    store._client = client  # type: ignore[assignment]
    store.insert_select(
        "email_events",
        SELECT_FILLED,
        LINE_STRUCTURE,
        b'{"a":1}\n{"a":2}',
        LINE_FORMAT,
        parameters={"ingested_at": "x"},
        dedup_token="email-events:0:0-1",
        settings=LINE_SETTINGS,
    )
    (call,) = client.calls
    sql = call["cmd"]
    assert sql.startswith("INSERT INTO `sendflowr`.`email_events` SELECT ")
    assert "FROM input({_structure:String})" in sql and "file(" not in sql
    assert sql.endswith(" FORMAT JSONEachRow")
    assert "insert_deduplication_token = 'email-events:0:0-1'" in sql
    assert call["data"] == b'{"a":1}\n{"a":2}'
    assert call["parameters"] == {"ingested_at": "x", "_structure": LINE_STRUCTURE}
