"""Pure pieces of the seed's verification habits: the FORMAT clause and the groups table."""

from __future__ import annotations

import pytest

from sendflowr.cli.kafka import GROUP_COLUMNS, group_table
from sendflowr.errors import ValidationError
from sendflowr.kafka.topics import GroupPartition
from sendflowr.store.formatted import format_clause, readonly_query


@pytest.mark.parametrize(
    ("query", "fmt"),
    [
        ("SELECT 1 FORMAT Vertical", "Vertical"),
        ("select 1 format prettycompact ;", "prettycompact"),
        ("SELECT *\nFROM t\nFORMAT JSONEachRow\n", "JSONEachRow"),
        ("SELECT 'FORMAT' AS format", None),
        ("SELECT format FROM t", None),
        ("SELECT 1 FORMAT Vertical LIMIT 1", None),
    ],
)
def test_format_clause(query: str, fmt: str | None) -> None:
    assert format_clause(query) == fmt


def test_group_table_is_laid_out_like_kafka_consumer_groups() -> None:
    rows = [
        GroupPartition("sendflowr-consumer", "email-events", 0, 27000, 27010,
                       "rdkafka-1b2c", "/127.0.0.1", "rdkafka"),
        GroupPartition("sendflowr-consumer", "email-events", 1, None, 5),
    ]  # fmt: skip
    lines = group_table(rows).splitlines()
    assert lines[0] == ""
    header = lines[1]
    assert header.split() == list(GROUP_COLUMNS)
    assert lines[2].split() == ["sendflowr-consumer", "email-events", "0", "27000", "27010",
                                "10", "rdkafka-1b2c", "/127.0.0.1", "rdkafka"]  # fmt: skip
    assert lines[3].split() == ["sendflowr-consumer", "email-events", "1", "-", "5", "-",
                                "-", "-", "-"]  # fmt: skip
    # Columns line up: every value starts where its header does.
    for column in ("PARTITION", "LAG", "HOST"):
        at = header.index(column)
        assert lines[2][at - 1] == " " and lines[2][at] != " "


def test_group_without_members_gets_the_tools_note() -> None:
    text = group_table([GroupPartition("g", "t", 0, 3, 3)])
    assert "Consumer group 'g' has no active members." in text
    assert GroupPartition("g", "t", 0, 5, 3).lag == 0  # never negative


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT 1 FORMAT Vertical", "SELECT 1 SETTINGS readonly = 2 FORMAT Vertical"),
        ("SHOW TABLES format CSV;", "SHOW TABLES SETTINGS readonly = 2 FORMAT CSV"),
        ("SELECT 1 SETTINGS max_threads = 1 FORMAT CSV",
         "SELECT 1 SETTINGS max_threads = 1, readonly = 2 FORMAT CSV"),
        ("SELECT * FROM (SELECT 1 SETTINGS max_threads = 1) FORMAT CSV",
         "SELECT * FROM (SELECT 1 SETTINGS max_threads = 1) SETTINGS readonly = 2 FORMAT CSV"),
    ],
)  # fmt: skip
def test_readonly_query_puts_readonly_in_the_querys_own_settings(query: str, expected: str) -> None:
    assert readonly_query(query) == expected


def test_readonly_query_refuses_to_be_overridden() -> None:
    with pytest.raises(ValidationError):
        readonly_query("INSERT INTO t SELECT 1 SETTINGS readonly = 0 FORMAT CSV")
    with pytest.raises(ValidationError):
        readonly_query("SELECT 1")
