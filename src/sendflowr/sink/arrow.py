"""``email_events`` columns → one Arrow IPC stream, the sink's insert format.

ClickHouse reads Arrow column by column in C++; the same rows sent as Native
through clickhouse-connect are serialised value by value in Python (dictionary
building for LowCardinality, ticks for each DateTime64), about twice as slow
end to end. See ``bench/sink.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import pyarrow as pa

from sendflowr.store.schema import EVENT_COLUMNS

__all__ = ["ARROW_FORMAT", "arrow_type", "columns_to_arrow"]

ARROW_FORMAT: Final = "ArrowStream"

_TYPES: Final[dict[str, pa.DataType]] = {
    "UUID": pa.string(),
    "String": pa.string(),
    "Float64": pa.float64(),
    "UInt8": pa.uint8(),
    "UInt32": pa.uint32(),
}
_EVENT_TYPES: Final = dict(EVENT_COLUMNS)


def arrow_type(clickhouse_type: str) -> pa.DataType:
    """The Arrow type that carries values of ``clickhouse_type`` (wrappers stripped)."""
    inner = clickhouse_type
    for wrapper in ("Nullable(", "LowCardinality("):
        if inner.startswith(wrapper):
            inner = inner[len(wrapper) : -1]
    if inner.startswith("DateTime64(3"):
        return pa.timestamp("ms", tz="UTC")
    try:
        return _TYPES[inner]
    except KeyError:
        raise ValueError(f"no Arrow mapping for ClickHouse type {clickhouse_type}") from None


_ARROW: Final = {name: arrow_type(t) for name, t in EVENT_COLUMNS}


def columns_to_arrow(columns: Mapping[str, Sequence[Any]]) -> bytes:
    """An Arrow IPC stream of ``columns`` (names of ``email_events``).

    Raises ``ValueError`` (``pyarrow.ArrowInvalid``) or ``TypeError`` when a value
    does not fit its column, e.g. 2**32 for a UInt32.
    """
    names = list(columns)
    arrays = [pa.array(columns[n], type=_ARROW[n]) for n in names]
    table = pa.Table.from_arrays(arrays, names=names)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data
