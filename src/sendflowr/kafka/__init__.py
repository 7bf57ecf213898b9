"""Kafka: the local broker the project runs, topic administration and client configs."""

from sendflowr.kafka.broker import BrokerStatus, LocalKafka, NodeStatus
from sendflowr.kafka.clients import consumer_config, producer_config
from sendflowr.kafka.topics import (
    PartitionOffsets,
    PartitionReplicas,
    ensure_topics,
    partition_replicas,
    topic_offsets,
    wait_ready,
)

__all__ = [
    "BrokerStatus",
    "LocalKafka",
    "NodeStatus",
    "PartitionOffsets",
    "PartitionReplicas",
    "consumer_config",
    "ensure_topics",
    "partition_replicas",
    "producer_config",
    "topic_offsets",
    "wait_ready",
]
