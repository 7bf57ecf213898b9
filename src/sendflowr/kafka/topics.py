"""Kafka administration: readiness, topics, offsets and consumer groups, over confluent-kafka."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # type: ignore[attr-defined]

from sendflowr.errors import KafkaUnavailable

_log = logging.getLogger("sendflowr.kafka")

__all__ = [
    "GroupPartition",
    "PartitionOffsets",
    "PartitionReplicas",
    "describe_groups",
    "ensure_topics",
    "group_offsets",
    "partition_replicas",
    "topic_offsets",
    "wait_ready",
]


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """Low and high watermarks of one partition, and a group's committed offset."""

    topic: str
    partition: int
    low: int
    high: int
    committed: int | None = None

    @property
    def lag(self) -> int | None:
        """Records not yet committed by the group (None when it committed nothing)."""
        if self.committed is None:
            return None
        return max(self.high - self.committed, 0)


def _admin(bootstrap: str) -> AdminClient:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000}
    config["logger"] = _log
    return AdminClient(config)


def wait_ready(bootstrap: str, timeout: float = 60.0, brokers: int = 1) -> None:
    """Block until the cluster answers a metadata request naming at least ``brokers`` brokers;
    raise ``KafkaUnavailable`` if it does not within ``timeout`` seconds."""
    admin = _admin(bootstrap)
    deadline = time.monotonic() + timeout
    last: Exception | str | None = None
    while time.monotonic() < deadline:
        try:
            metadata = admin.list_topics(timeout=min(5.0, max(deadline - time.monotonic(), 0.1)))
            if len(metadata.brokers) >= brokers:
                return
            last = f"{len(metadata.brokers)} of {brokers} brokers registered"
        except KafkaException as exc:
            last = exc
        time.sleep(0.2)
    raise KafkaUnavailable(f"Kafka at {bootstrap} did not answer within {timeout:.0f}s ({last})")


def ensure_topics(
    bootstrap: str,
    topics: Iterable[tuple[str, int]],
    timeout: float = 30.0,
    *,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
) -> None:
    """Create each ``(name, partitions)`` topic that does not exist yet (idempotent).

    ``replication_factor`` defaults to min(3, brokers in the cluster), and
    ``min_insync_replicas`` to one less than that (at least 1): on a three-broker
    cluster, three copies of which two must confirm an acks=all write. Existing
    topics are left as they are.
    """
    admin = _admin(bootstrap)
    metadata = admin.list_topics(timeout=timeout)
    existing = metadata.topics
    factor = replication_factor or min(max(len(metadata.brokers), 1), 3)
    min_isr = min_insync_replicas or max(factor - 1, 1)
    config = {"min.insync.replicas": str(min_isr)} if factor > 1 else {}
    wanted = [
        NewTopic(name, num_partitions=n, replication_factor=factor, config=config)
        for name, n in topics
    ]
    missing = [t for t in wanted if t.topic not in existing]
    if not missing:
        return
    for topic, future in admin.create_topics(missing, request_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise KafkaUnavailable(f"could not create topic {topic}: {exc}") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        known = admin.list_topics(timeout=timeout).topics
        if all(t.topic in known and not known[t.topic].error for t in missing):
            return
        time.sleep(0.1)


@dataclass(frozen=True, slots=True)
class PartitionReplicas:
    """Where one partition lives: its leader, replicas and in-sync replicas (broker ids)."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isrs: tuple[int, ...]


def partition_replicas(
    bootstrap: str, topic: str, timeout: float = 10.0
) -> list[PartitionReplicas]:
    """Leader, replicas and ISR of every partition of ``topic`` (empty if it does not exist)."""
    try:
        metadata = _admin(bootstrap).list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not answer: {exc}") from exc
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        return []
    return [
        PartitionReplicas(topic, p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
        for p in sorted(info.partitions.values(), key=lambda p: p.id)
    ]


def _committed(consumer: Consumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
    # The group coordinator may still be loading right after a broker start.
    deadline = time.monotonic() + 15
    while True:
        try:
            result: list[TopicPartition] = consumer.committed(partitions, timeout=10)
            return result
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"could not read committed offsets: {exc}") from exc
            time.sleep(0.3)


def topic_offsets(bootstrap: str, topic: str, group: str | None = None) -> list[PartitionOffsets]:
    """Watermarks of every partition of ``topic`` and, with ``group``, its committed offsets."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group or "sendflowr-offsets-probe",
        "enable.auto.commit": False,
        "logger": _log,
    }
    consumer = Consumer(config)
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10)
        except KafkaException as exc:
            raise KafkaUnavailable(f"Kafka at {bootstrap} did not answer: {exc}") from exc
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            return []
        partitions = [TopicPartition(topic, p) for p in sorted(info.partitions)]
        committed: dict[int, int | None] = {}
        if group:
            for tp in _committed(consumer, partitions):
                committed[tp.partition] = tp.offset if tp.offset >= 0 else None
        result = []
        for tp in partitions:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            result.append(
                PartitionOffsets(topic, tp.partition, low, high, committed.get(tp.partition))
            )
        return result
    finally:
        consumer.close()


def group_offsets(bootstrap: str, topic: str, group: str) -> dict[int, int | None]:
    """Committed offset per partition of ``group`` on ``topic``."""
    return {p.partition: p.committed for p in topic_offsets(bootstrap, topic, group)}


@dataclass(frozen=True, slots=True)
class GroupPartition:
    """One row of ``kafka-consumer-groups --describe``: a group's position on one partition
    and the member that owns it (``None`` where the tool prints ``-``)."""

    group: str
    topic: str
    partition: int
    current_offset: int | None
    log_end_offset: int | None
    consumer_id: str | None = None
    host: str | None = None
    client_id: str | None = None

    @property
    def lag(self) -> int | None:
        """Records the group has not committed yet (None when it committed nothing)."""
        if self.current_offset is None or self.log_end_offset is None:
            return None
        return max(self.log_end_offset - self.current_offset, 0)


def _result(future: Any, bootstrap: str, timeout: float) -> Any:
    try:
        return future.result(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap}: {exc}") from exc


def describe_groups(
    bootstrap: str, groups: Iterable[str] | None = None, *, timeout: float = 10.0
) -> list[GroupPartition]:
    """What ``kafka-consumer-groups --describe`` shows for ``groups`` (default: every group):
    per partition the group committed or a member holds, its committed offset, the log-end
    offset, and the owning member's id, host and client id."""
    admin = _admin(bootstrap)
    if groups is None:
        listing = _result(admin.list_consumer_groups(request_timeout=timeout), bootstrap, timeout)
        names = sorted(g.group_id for g in listing.valid)
    else:
        names = list(groups)
    if not names:
        return []
    described = {
        name: _result(f, bootstrap, timeout)
        for name, f in admin.describe_consumer_groups(names, request_timeout=timeout).items()
    }
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for name in names:
        request = [ConsumerGroupTopicPartitions(name)]
        for f in admin.list_consumer_group_offsets(request, request_timeout=timeout).values():
            for tp in _result(f, bootstrap, timeout).topic_partitions or []:
                if tp.offset >= 0:
                    rows[(name, tp.topic, tp.partition)] = {"current_offset": tp.offset}
        for member in described[name].members:
            owned = member.assignment.topic_partitions if member.assignment else []
            for tp in owned:
                row = rows.setdefault((name, tp.topic, tp.partition), {"current_offset": None})
                row.update(consumer_id=member.member_id, host=member.host,
                           client_id=member.client_id)  # fmt: skip
    ends: dict[tuple[str, int], int] = {}
    partitions = {TopicPartition(t, p) for (_, t, p) in rows}
    if partitions:
        specs = {tp: OffsetSpec.latest() for tp in partitions}  # type: ignore[no-untyped-call]
        for tp, f in admin.list_offsets(specs, request_timeout=timeout).items():
            ends[(tp.topic, tp.partition)] = _result(f, bootstrap, timeout).offset
    return [
        GroupPartition(
            group, topic, partition, log_end_offset=ends.get((topic, partition)), **fields
        )  # fmt: skip
        for (group, topic, partition), fields in sorted(rows.items())
    ]
