"""``--sink kafka`` on the real broker: CanonicalEvents keyed by universal_id, all acknowledged."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner
from confluent_kafka import Consumer

from sendflowr.cli import main
from sendflowr.events import decode_event
from sendflowr.generator import model_for
from sendflowr.generator.outputs.kafka import KafkaOutput
from sendflowr.generator.run import Plan, run
from sendflowr.kafka import consumer_config
from sendflowr.settings import Settings


def _consume(settings: Settings, expected: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer(consumer_config(settings, **{"group.id": f"{settings.consumer_group}-t"}))
    consumer.subscribe([settings.topic])
    out: list[tuple[bytes, bytes]] = []
    try:
        for _ in range(600):
            for msg in consumer.consume(1000, timeout=0.5):
                assert msg.error() is None
                out.append((msg.key(), msg.value()))
            if len(out) >= expected:
                break
    finally:
        consumer.close()
    return out


def test_kafka_sink_publishes_every_event_keyed_by_universal_id(kafka_settings: Settings) -> None:
    model = model_for(None)
    plan = Plan(model, 8, date(2025, 10, 1), date(2026, 1, 10), count=3000)
    result = run(plan, KafkaOutput(model, kafka_settings))
    assert result.stats.acknowledged == 3000 and result.stats.failed == 0
    records = _consume(kafka_settings, 3000)
    assert len(records) == 3000
    ids = set()
    for key, value in records:
        event = decode_event(value)
        assert key.decode() == event.universal_id and event.universal_id.startswith("sf_")
        assert b"@" not in value
        ids.add(event.event_id)
    assert len(ids) == 3000


def test_generate_cli_with_kafka_sink(kafka_settings: Settings) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.kafka_bootstrap_servers,
        "SENDFLOWR_TOPIC": kafka_settings.topic,
        "SENDFLOWR_HOME": str(kafka_settings.home),
    }
    result = CliRunner().invoke(
        main,
        ["generate", "--count", "500", "--seed", "1", "--sink", "kafka", "--no-progress"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "acknowledged" in result.output
    assert len(_consume(kafka_settings, 500)) == 500
