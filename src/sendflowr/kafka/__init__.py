"""Kafka: the local broker the project runs, topic administration and client configs."""

from sendflowr.kafka.broker import BrokerStatus, LocalKafka
from sendflowr.kafka.clients import consumer_config, producer_config
from sendflowr.kafka.topics import PartitionOffsets, ensure_topics, topic_offsets, wait_ready

__all__ = [
    "BrokerStatus",
    "LocalKafka",
    "PartitionOffsets",
    "consumer_config",
    "ensure_topics",
    "producer_config",
    "topic_offsets",
    "wait_ready",
]
