"""Delivery accounting: reports counted, the first errors kept, the last report signalled."""

from __future__ import annotations

from confluent_kafka import KafkaError

from sendflowr.kafka.publish import Delivery


def test_reports_are_counted_and_the_last_expected_one_signals() -> None:
    done: list[Delivery] = []
    delivery = Delivery(3, done.append)
    delivery.report(None, None)
    delivery.report(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert not done
    delivery.report(None, None)
    assert done == [delivery]
    assert (delivery.acknowledged, delivery.failed) == (2, 1)
    assert "timed out" in delivery.describe().lower()


def test_only_the_first_errors_are_kept() -> None:
    delivery = Delivery()
    for _ in range(8):
        delivery.report(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert delivery.failed == 8
    assert len(delivery.errors) == 5
    assert Delivery().describe() == ""
