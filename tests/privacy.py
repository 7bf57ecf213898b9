"""The privacy scan that closes every test session: no raw email address in Kafka, ClickHouse,
the logs, the identity stores or any file the system wrote during the tests.

Findings are collected while the session runs (ClickHouse databases are scanned just before
their fixtures drop them; log records as they are emitted) and, at the end, over the session
broker's topics and every file under the session's temporary folder. The last test of the
session (``tests/zz_privacy``) asserts that nothing was found.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

__all__ = ["ADDRESS", "Findings", "LeakHandler", "scan_database", "scan_files", "scan_kafka"]

#: An email address, internationalised ones and local hosts included.
ADDRESS = re.compile(
    r"(?<![\w.+%-])[\w.+%-]{1,64}@(?:(?:[\w-]{1,63}\.)+[^\W\d_]{2,}|localhost)(?![\w-])",
    re.UNICODE,
)
#: File kinds that are compressed or binary column stores; their content is scanned through
#: the service that wrote them (ClickHouse by query, Kafka by consuming), not byte by byte.
_SKIP_SUFFIXES = {".bin", ".mrk2", ".mrk3", ".cmrk2", ".cmrk3", ".idx", ".index", ".timeindex",
                  ".parquet", ".jar", ".pyc", ".lz4", ".snapshot", ".checkpoint"}  # fmt: skip
_SKIP_DIRS = {"clickhouse", "libs", "__pycache__", ".m2"}


@dataclass
class Findings:
    """Where a raw address was seen, and a redacted sample of it."""

    items: list[str] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        for match in ADDRESS.finditer(text):
            local, _, domain = match.group(0).partition("@")
            self.items.append(f"{where}: {local[:2]}…@{domain}")
            return


def scan_database(store: Any, findings: Findings) -> None:
    """Every String-typed column of every table of ``store``'s database."""
    columns = store.query(
        "SELECT table, name FROM system.columns WHERE database = {db:String} "
        "AND type LIKE '%String%'",
        parameters={"db": store.database},
    ).rows
    by_table: dict[str, list[str]] = {}
    for table, name in columns:
        by_table.setdefault(str(table), []).append(str(name))
    for table, names in by_table.items():
        joined = ", ".join(f"toString(`{n}`)" for n in names)
        result = store.query(
            f"SELECT concatWithSeparator(' ', {joined}) AS t "  # noqa: S608
            f"FROM `{store.database}`.`{table}` WHERE position(t, '@') > 0 LIMIT 1000"
        ).rows
        for row in result:
            findings.add(f"clickhouse {table}", str(row[0]))


def scan_kafka(bootstrap: str, findings: Findings) -> int:
    """Every key, value and header of every topic on the broker; returns records read."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [t for t in admin.list_topics(timeout=10).topics if not t.startswith("__")]
    if not topics:
        return 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"privacy-scan-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    read = idle = 0
    try:
        while idle < 6:
            batch = consumer.consume(50_000, timeout=0.5)
            idle = 0 if batch else idle + 1
            for msg in batch:
                if msg.error() is not None:
                    continue
                read += 1
                parts = [msg.key() or b"", msg.value() or b""]
                parts.extend(v for _, v in (msg.headers() or []) if v)
                for part in parts:
                    if b"@" in part:
                        findings.add(f"kafka {msg.topic()}", part.decode("utf-8", "replace"))
    finally:
        consumer.close()
    return read


def scan_files(root: Path, findings: Findings) -> int:
    """Every file under ``root`` except compressed stores; returns files read."""
    read = 0
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix in _SKIP_SUFFIXES:
            continue
        parts = path.relative_to(root).parts
        if _SKIP_DIRS.intersection(parts) or ("kafka" in parts and "data" in parts):
            continue  # Kafka's log segments are compressed batches: scanned by consuming
        try:
            data = path.read_bytes()
        except OSError:
            continue
        read += 1
        if b"@" in data:
            findings.add(f"file {path.relative_to(root)}", data.decode("utf-8", "replace"))
    return read


class LeakHandler(logging.Handler):
    """A logging handler that records every log line carrying an address."""

    def __init__(self, findings: Findings) -> None:
        super().__init__(logging.DEBUG)
        self.findings = findings

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string is not our concern here
            return
        if "@" in text:
            self.findings.add(f"log {record.name}", text)
