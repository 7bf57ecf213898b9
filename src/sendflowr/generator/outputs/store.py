"""``--sink store``: blocks straight into ClickHouse's ``email_events``, the bulk-load path.

Each block (about 50,000 events) becomes one Arrow insert, so memory stays that
of one block however long the history. The rows are those the sink would store
for the same events (canonical form, training columns filled by the generator),
minus the sink's bot flags (``metadata.suspected_bot``), which the generator's
synthetic opens never earn anyway. Each insert carries a deduplication token
derived from its event ids, so running the same seed again adds no rows.

With the embedded engine this process must own the data folder: stop ``serve``
first (or set ``CLICKHOUSE_URL`` for a server, which any number of writers share).
"""

from __future__ import annotations

import pyarrow as pa

from sendflowr.generator.arrow import arrow_table
from sendflowr.generator.block import EventBlock
from sendflowr.generator.model import Model
from sendflowr.generator.outputs.base import OutputStats
from sendflowr.store.clickhouse import ClickHouseStore
from sendflowr.store.schema import EVENTS_TABLE

__all__ = ["StoreOutput", "arrow_stream", "plain_columns"]


def plain_columns(table: pa.Table) -> pa.Table:
    """``table`` with dictionary columns decoded (ClickHouse's Arrow input refuses
    dictionaries whose values repeat across batches)."""
    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def arrow_stream(table: pa.Table) -> bytes:
    """``table`` in Arrow IPC stream format (ClickHouse's ``ArrowStream``)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


class StoreOutput:
    """Inserts every block into ``store``'s events table (started here if it was not;
    stopped on close when ``stop_store``)."""

    name = "store"

    def __init__(self, model: Model, store: ClickHouseStore, *, stop_store: bool = False) -> None:
        self._model = model
        self._store = store
        self._stop_store = stop_store
        self.stats = OutputStats()

    def open(self) -> None:
        """Start the store (connect, run migrations)."""
        self._store.start()

    def write(self, block: EventBlock) -> None:
        """Insert the block as one ArrowStream insert (token: its first and last event id)."""
        if not len(block):
            return
        table = plain_columns(arrow_table(self._model, block))
        ids = table.column("event_id")
        token = f"generate:{ids[0].as_py()}:{ids[len(ids) - 1].as_py()}:{len(ids)}"
        self.stats.sent += len(block)
        self.stats.requests += 1
        self._store.insert_raw(
            EVENTS_TABLE, table.column_names, arrow_stream(table), "ArrowStream", dedup_token=token
        )
        self.stats.acknowledged += len(block)

    def close(self) -> None:
        """Nothing is buffered (each write returned once ClickHouse stored the block); stop
        the store if this output owns it."""
        if self._stop_store:
            self._store.stop()
