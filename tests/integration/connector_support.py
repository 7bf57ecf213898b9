"""Helpers of the connector and identity integration tests: reading a topic, PostgreSQL
schemas, connector subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError
from psycopg import sql


def read_topic(
    bootstrap: str, topic: str, expected: int, timeout: float = 60
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of every record of ``topic``, waiting until ``expected`` arrived."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=1.0):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(str(msg.error()))
                records.append((msg.key() or b"", msg.value() or b""))
        # Anything beyond the expected count (duplicates) arrives within a short grace.
        for msg in consumer.consume(10_000, timeout=1.0):
            if msg.error() is None:
                records.append((msg.key() or b"", msg.value() or b""))
    finally:
        consumer.close()
    return records


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose sessions use ``schema``."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on SENDFLOWR_TEST_POSTGRES_URL (skips when unset); yields its URL."""
    base = os.environ.get("SENDFLOWR_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("SENDFLOWR_TEST_POSTGRES_URL is not set (CI sets it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def connector_process(home: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """``sendflowr serve --role connector`` on ``port``; yields its base URL once healthy."""
    full_env = {**os.environ, "SENDFLOWR_HOME": str(home), "SENDFLOWR_CONNECTOR_PORT": str(port)}
    full_env.pop("SENDFLOWR_API_KEY", None)
    full_env.pop("SENDFLOWR_IDENTITY_URL", None)
    full_env.update(env)
    log = open(home / f"connector-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sendflowr", "serve", "--role", "connector"],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError((home / f"connector-{port}.log").read_text()[-2000:])
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("connector did not become healthy")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
