"""A process that owns a ScheduleBook on a clock read from a file (the kill -9 test's victim).

``python -m tests.integration.schedule_worker BOOTSTRAP BASE CLOCK_FILE``: recovers
the book from the topics named ``BASE-schedules``/``-commands``/``-revisions``, then
fires due schedules every 20 ms on the time written (ISO-8601) in ``CLOCK_FILE``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

from sendflowr.kafka.publish import KafkaProducer
from sendflowr.timing.schedules import ScheduleBook, ScheduleTopics


class FileClock:
    """A clock another process moves by writing the time into a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        """The time in the file."""
        return datetime.fromisoformat(self.path.read_text().strip())


def main() -> None:
    bootstrap, base, clock_file = sys.argv[1:4]
    topics = ScheduleTopics(f"{base}-schedules", f"{base}-commands", f"{base}-revisions")
    producer = KafkaProducer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                              "acks": "all", "linger.ms": 5})  # fmt: skip
    book = ScheduleBook(producer, bootstrap, topics=topics, clock=FileClock(Path(clock_file)))
    book.start(interval=0.02)
    print("ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
