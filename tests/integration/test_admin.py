"""The admin API on real chDB: token, the ad-hoc SQL policy, limits, and its own session.

Each refusal is checked to have changed nothing: the files a refused query would
write do not exist, and the ingest session still inserts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sendflowr.auth import issue_token, read_token, token_path
from sendflowr.serve.admin import create_admin_app
from sendflowr.serve.contract import Resources
from tests.asgi import AppClient
from tests.conftest import unique_name


@pytest.fixture
def resources(make_settings: Any) -> Iterator[Resources]:
    res = Resources(make_settings(clickhouse_database=unique_name("db")))
    try:
        yield res
    finally:
        res.store().command(f"DROP DATABASE IF EXISTS `{res.settings.clickhouse_database}`")
        res.close()


@pytest.fixture
def admin(resources: Resources, tmp_path: Path) -> Iterator[tuple[AppClient, dict[str, str]]]:
    token = issue_token(tmp_path)
    app = create_admin_app(resources, token, session={"max_execution_time": 2})
    client = AppClient(app)
    try:
        yield client, {"Authorization": f"Bearer {token}"}
    finally:
        client.close()


def _ingest_works(resources: Resources) -> None:
    store = resources.store("ingest")
    before = store.count_events()
    store.command(
        f"INSERT INTO {store.events_table} (event_id, event_type, timestamp, universal_id) "  # noqa: S608
        "VALUES (generateUUIDv4(), 'sent', now64(3), 'sf_0000000000000001')"
    )
    assert store.count_events() == before + 1


def test_token_file_is_private_and_fresh_each_time(tmp_path: Path) -> None:
    first = issue_token(tmp_path)
    assert token_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert read_token(tmp_path) == first
    second = issue_token(tmp_path)
    assert second != first and read_token(tmp_path) == second
    assert token_path(tmp_path).stat().st_mode & 0o777 == 0o600


def test_sql_without_or_with_a_wrong_token_is_401(
    admin: tuple[AppClient, dict[str, str]],
) -> None:
    client, _ = admin
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"}):
        got = client.post("/sql", json={"query": "SELECT 1"}, headers=headers)
        assert got.status_code == 401, got.text
        assert got.json()["field"] == "Authorization"
    assert client.get("/health").status_code == 200  # says only that serve runs


def test_reads_of_the_sendflowr_database_run(
    admin: tuple[AppClient, dict[str, str]], resources: Resources
) -> None:
    client, auth = admin
    db = resources.settings.clickhouse_database
    _ingest_works(resources)
    for query, params in [
        (f"SELECT count() FROM {db}.email_events", {}),  # noqa: S608
        ("SELECT count() FROM email_events WHERE universal_id LIKE {p:String}", {"p": "sf_%"}),
        ("WITH x AS (SELECT event_type FROM email_events) SELECT count() FROM x", {}),
        ("DESCRIBE TABLE email_events", {}),
        ("SHOW TABLES", {}),
        (f"SHOW CREATE TABLE {db}.email_events", {}),
        ("EXPLAIN SELECT count() FROM email_events", {}),
        ("SELECT name, total_rows FROM system.tables WHERE database = {db:String}", {"db": db}),
        ("SELECT sum(number) FROM numbers(10);", {}),
    ]:
        got = client.post("/sql", json={"query": query, "parameters": params}, headers=auth)
        assert got.status_code == 200, (query, got.text)
        assert got.json()["rows"], query
    empty = client.post("/sql", json={"query": "SHOW TABLES LIKE 'nothing%'"}, headers=auth)
    assert empty.status_code == 200 and empty.json()["rows"] == []


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT * FROM file({p:String}, 'LineAsString')", "file"),
        ("SELECT file({p:String})", "file"),
        ("SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')", "url"),
        ("SELECT * FROM s3('http://127.0.0.1:9/b/k', 'CSV')", "s3"),
        ("SELECT * FROM remote('127.0.0.1', system.one)", "remote"),
        ("SELECT * FROM mysql('127.0.0.1', 'd', 't', 'u', 'p')", "mysql"),
        ("SELECT * FROM executable('x.sh', 'CSV', 'a String')", "executable"),
        ("SELECT 1 UNION ALL SELECT 1 FROM postgresql('h', 'd', 't', 'u', 'p')", "postgresql"),
        ("SELECT 1 INTO OUTFILE {p:String}", "INTO"),
        ("INSERT INTO FUNCTION file({p:String}, 'CSV', 'x UInt8') SELECT 1", "only SELECT"),
        ("INSERT INTO email_events (event_type) VALUES ('sent')", "only SELECT"),
        ("SELECT 1 SETTINGS max_execution_time = 3600", "SETTINGS"),
        ("SELECT 1 FORMAT JSON", "FORMAT"),
        ("SELECT 1; DROP TABLE email_events", "one statement"),
        ("DROP TABLE email_events", "only SELECT"),
        ("SELECT query FROM system.processes", "outside"),
        ("SELECT * FROM information_schema.tables", "outside"),
        ("SHOW TABLES FROM information_schema", "not the"),
        ("EXPLAIN PLAN SELECT * FROM file({p:String})", "file"),
        ("DESCRIBE TABLE file({p:String}, 'LineAsString')", "file"),
    ],
)
def test_refused_before_anything_runs(
    admin: tuple[AppClient, dict[str, str]],
    resources: Resources,
    tmp_path: Path,
    query: str,
    reason: str,
) -> None:
    client, auth = admin
    target = tmp_path / "written-by-a-refused-query.csv"
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me\n")
    path = str(target) if "INTO" in query else str(secret)
    got = client.post("/sql", json={"query": query, "parameters": {"p": path}}, headers=auth)
    assert got.status_code == 403, got.text
    body = got.json()
    assert body["error"] == "refused" and body["field"] == "query"
    assert reason in body["reason"]
    assert "do not read me" not in got.text
    assert not target.exists()
    _ingest_works(resources)


def test_a_failed_write_leaves_the_ingest_and_inference_sessions_writable(
    admin: tuple[AppClient, dict[str, str]], resources: Resources
) -> None:
    client, auth = admin
    for query in (
        "INSERT INTO email_events (event_type) VALUES ('sent')",
        "OPTIMIZE TABLE email_events",
    ):
        assert client.post("/sql", json={"query": query}, headers=auth).status_code == 403
    # Even a write that gets past the policy dies on the read-only admin session only.
    admin_store = resources.store("admin")
    with pytest.raises(Exception, match="readonly"):
        admin_store.command(f"INSERT INTO {admin_store.events_table} (event_type) VALUES ('x')")  # noqa: S608
    _ingest_works(resources)
    inference = resources.store("inference")
    inference.command(f"INSERT INTO {inference.events_table} (event_type) VALUES ('sent')")  # noqa: S608


def test_a_heavy_select_stops_when_its_time_is_up(
    admin: tuple[AppClient, dict[str, str]], resources: Resources
) -> None:
    client, auth = admin
    got = client.post(
        "/sql", json={"query": "SELECT count() FROM numbers(1000000000000)"}, headers=auth
    )
    assert got.status_code == 400, got.text
    assert got.json()["name"] == "TIMEOUT_EXCEEDED"
    _ingest_works(resources)
