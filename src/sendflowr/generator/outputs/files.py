"""File outputs: JSON lines and Parquet, in canonical form (email hash, never the address)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import orjson
import pyarrow.parquet as pq

from sendflowr.generator.arrow import arrow_table
from sendflowr.generator.block import EventBlock
from sendflowr.generator.model import Model
from sendflowr.generator.outputs.base import OutputStats
from sendflowr.generator.rows import canonical_rows

__all__ = ["JsonlOutput", "ParquetOutput"]


class JsonlOutput:
    """One ``CanonicalEvent`` JSON object per line; same seed → byte-identical file."""

    name = "jsonl"

    def __init__(self, model: Model, path: Path) -> None:
        self._model = model
        self._path = path
        self._fh: IO[bytes] | None = None
        self.stats = OutputStats()

    def open(self) -> None:
        """Create (truncate) the file."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self._path.open("wb")

    def write(self, block: EventBlock) -> None:
        """Append the block's rows."""
        assert self._fh is not None, "open() first"
        rows = canonical_rows(self._model, block)
        self._fh.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        self.stats.sent += len(rows)
        self.stats.acknowledged += len(rows)

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class ParquetOutput:
    """A Parquet file with the columns of ``email_events`` (zstd, dictionary-encoded)."""

    name = "parquet"

    def __init__(self, model: Model, path: Path) -> None:
        self._model = model
        self._path = path
        self._writer: pq.ParquetWriter | None = None
        self.stats = OutputStats()

    def open(self) -> None:
        """Nothing yet: the writer needs the first block's schema."""
        self._path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, block: EventBlock) -> None:
        """Write the block as one row group."""
        table = arrow_table(self._model, block)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._path, table.schema, compression="zstd")
        self._writer.write_table(table)
        self.stats.sent += len(block)
        self.stats.acknowledged += len(block)

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
