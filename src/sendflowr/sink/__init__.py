"""The sink: Kafka ``email-events`` → ClickHouse ``email_events``, exactly once per event.

``SinkConsumer`` runs the loop; ``role.build`` makes it the ``consumer`` role of
``sendflowr serve``. See ``batches`` (replayable chunk boundaries), ``rounds``
(pipelined writes and commits), ``records`` (validation), ``loadsql`` (the load
statement, which fills the training columns), ``writer``, ``dedup``, ``enrich``
(bot flags), ``dlq`` (dead-letter record format) and ``metrics``.
"""

from sendflowr.sink.consumer import SinkConsumer, SinkStats
from sendflowr.sink.metrics import SinkMetrics

__all__ = ["SinkConsumer", "SinkMetrics", "SinkStats"]
