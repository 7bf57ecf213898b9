"""Per-partition batches with boundaries that a replay reproduces exactly.

A batch (a *chunk*) is a run of one partition's records from its committed
offset to an end offset. Before a chunk is inserted, the sink commits the
start of its oldest unfinished chunk with the ends of every chunk it launched
since in the commit metadata (the *intent*, ``end=<e1>,<e2>``); once ClickHouse
acknowledged the oldest, it commits the start of the next (or ``end + 1``).
A consumer that takes the partition over after a crash finds the intent and
cuts its first chunks at those same ends, so the replays carry the same
records and the same deduplication tokens (``topic:partition:start-end``),
and ClickHouse drops what it already holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from sendflowr.sink.records import KafkaRecord

__all__ = [
    "INTENT_PREFIX",
    "Chunk",
    "PartitionBuffer",
    "dedup_token",
    "intent_metadata",
    "parse_intent",
]

INTENT_PREFIX: Final = "sendflowr-sink:end="
_INTENT = re.compile(r"^sendflowr-sink:end=(\d+(?:,\d+)*)$")

R = TypeVar("R", bound=KafkaRecord)


def intent_metadata(ends: Sequence[int]) -> str:
    """Commit metadata saying the chunks that follow the committed offset end at ``ends``."""
    return INTENT_PREFIX + ",".join(map(str, ends))


def parse_intent(metadata: str | None) -> list[int]:
    """The chunk ends announced by commit ``metadata`` (none for foreign metadata)."""
    match = _INTENT.match(metadata) if metadata else None
    return [int(end) for end in match.group(1).split(",")] if match else []


def dedup_token(topic: str, partition: int, start: int, end: int) -> str:
    """ClickHouse ``insert_deduplication_token`` of a chunk."""
    return f"{topic}:{partition}:{start}-{end}"


@dataclass(frozen=True, slots=True)
class Chunk(Generic[R]):
    """Records ``start``…``end`` (inclusive offsets) of one partition; ``replay`` if announced."""

    topic: str
    partition: int
    records: list[R]
    replay: bool

    @property
    def start(self) -> int:
        return self.records[0].offset() or 0

    @property
    def end(self) -> int:
        return self.records[-1].offset() or 0

    @property
    def token(self) -> str:
        return dedup_token(self.topic, self.partition, self.start, self.end)


@dataclass
class PartitionBuffer(Generic[R]):
    """Records of one partition waiting to be written, and the replay boundaries if any.

    ``replay_ends`` are the ends announced by an intent found at assignment: the
    first chunks must end exactly there.
    """

    topic: str
    partition: int
    replay_ends: list[int] = field(default_factory=list)
    records: list[R] = field(default_factory=list)
    first_at: float | None = None

    @property
    def replay_end(self) -> int | None:
        """Where the next chunk must end, if it is a replay."""
        return self.replay_ends[0] if self.replay_ends else None

    def add(self, record: R, now: float) -> None:
        if not self.records:
            self.first_at = now
        self.records.append(record)

    def extend(self, records: Iterable[R], now: float) -> None:
        if not self.records:
            self.first_at = now
        self.records.extend(records)

    def __len__(self) -> int:
        return len(self.records)

    def ready(self, batch_size: int, max_wait: float, now: float, position: int | None) -> bool:
        """Whether a chunk can be cut now (size reached, waited long enough, or replay complete)."""
        if not self.records:
            return False
        if self.replay_end is not None:
            return self._replay_complete(position)
        if len(self.records) >= batch_size:
            return True
        return self.first_at is not None and now - self.first_at >= max_wait

    def _replay_complete(self, position: int | None) -> bool:
        assert self.replay_end is not None
        last = self.records[-1].offset() or 0
        return last >= self.replay_end or (position is not None and position > self.replay_end)

    def cut(
        self, batch_size: int, position: int | None = None, now: float = 0.0
    ) -> Chunk[R] | None:
        """Remove and return the next chunk; None if a replay chunk is still incomplete."""
        if not self.records:
            return None
        if self.replay_end is not None:
            if not self._replay_complete(position):
                return None
            end = self.replay_ends.pop(0)
            count = 0
            for record in self.records:
                if (record.offset() or 0) > end:
                    break
                count += 1
            replay = True
        else:
            count = min(len(self.records), batch_size)
            replay = False
        taken, self.records = self.records[:count], self.records[count:]
        self.first_at = now if self.records else None
        if not taken:
            return None
        return Chunk(self.topic, self.partition, taken, replay)

    def clear(self) -> None:
        """Forget every buffered record (partition lost or rewound)."""
        self.records = []
        self.first_at = None
