"""``MemoryStore``: the in-memory double of ``EventStore`` for unit tests of pure logic.

It runs no SQL: inserts are recorded as ``Insert``s (every accepted one, a
replayed token too), commands are recorded, and ``query``
answers what a test queued in ``answers``. ``failures`` simulates an outage
(that many inserts raise a network ``StoreError``), ``refused`` a block
ClickHouse cannot parse (an insert whose data holds one of those markers), and ``odd`` a
block refused under an error name (``odd_name``) the sink does not know as a data error.
``attempts`` counts every insert tried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sendflowr.errors import StoreError
from sendflowr.store.clickhouse import QueryResult

__all__ = ["Insert", "MemoryStore"]


@dataclass(frozen=True, slots=True)
class Insert:
    """One recorded insert: target table, token, the block and how it was to be read."""

    table: str
    dedup_token: str | None
    rows: int
    data: bytes
    fmt: str
    select: str
    parameters: Mapping[str, Any]


class MemoryStore:
    """Records what would be written; see the module docstring."""

    database = "memory"
    events_table = "memory.email_events"

    def __init__(
        self,
        *,
        failures: int = 0,
        refused: Sequence[bytes] = (),
        odd: Sequence[bytes] = (),
        odd_name: str = "SOMETHING_NEW",
        gate: threading.Event | None = None,
        on_insert: Callable[[Insert], None] | None = None,
    ) -> None:
        self.failures = failures
        self.refused = tuple(refused)
        self.odd, self.odd_name = tuple(odd), odd_name
        self.attempts = 0
        self.gate = gate
        self.on_insert = on_insert
        self.inserts: list[Insert] = []
        self.commands: list[str] = []
        self.answers: list[QueryResult] = []

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Record ``sql``."""
        self.commands.append(sql)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """The next queued answer (no rows when none is queued)."""
        return self.answers.pop(0) if self.answers else QueryResult([], [])

    def insert_raw(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        fmt: str,
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Record the block (``rows`` counts its lines)."""
        self._insert(Insert(table, dedup_token, len(data.splitlines()), data, fmt, "", {}))

    def insert_select(
        self,
        table: str,
        select: str,
        structure: str,
        data: bytes,
        fmt: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the block (``rows`` counts its lines)."""
        rows = len(data.splitlines())
        self._insert(Insert(table, dedup_token, rows, data, fmt, select, dict(parameters or {})))

    def _insert(self, insert: Insert) -> None:
        if self.gate is not None and not self.gate.wait(10):
            raise StoreError("memory store gate never opened", name="TIMEOUT_EXCEEDED")
        self.attempts += 1
        if any(marker in insert.data for marker in self.odd):
            raise StoreError("Code: 999. something about this row", code=999, name=self.odd_name)
        if self.failures:
            self.failures -= 1
            raise StoreError("connection refused", code=210, name="NETWORK_ERROR")
        if any(marker in insert.data for marker in self.refused):
            raise StoreError(
                "Cannot parse input", code=27, name="CANNOT_PARSE_INPUT_ASSERTION_FAILED"
            )
        self.inserts.append(insert)
        if self.on_insert is not None:
            self.on_insert(insert)
