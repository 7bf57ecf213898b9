"""Settings: the local broker's port carries its clients along unless brokers are named."""

from __future__ import annotations

import pytest

from sendflowr.settings import Settings


@pytest.fixture(autouse=True)
def _no_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "SENDFLOWR_KAFKA_BOOTSTRAP_SERVERS",
                 "SENDFLOWR_KAFKA_PORT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_default_bootstrap_is_the_local_broker() -> None:
    assert Settings().kafka_bootstrap_servers == "127.0.0.1:9092"


def test_kafka_port_alone_moves_the_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDFLOWR_KAFKA_PORT", "19192")
    assert Settings().kafka_bootstrap_servers == "127.0.0.1:19192"
    assert Settings(kafka_port=19300).kafka_bootstrap_servers == "127.0.0.1:19300"


def test_named_brokers_win_over_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDFLOWR_KAFKA_PORT", "19192")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-a:9092,broker-b:9092")
    assert Settings().kafka_bootstrap_servers == "broker-a:9092,broker-b:9092"
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")
    assert Settings(kafka_bootstrap_servers="10.0.0.5:9092").kafka_bootstrap_servers == (
        "10.0.0.5:9092"
    )
