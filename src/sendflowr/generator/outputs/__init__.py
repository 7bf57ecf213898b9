"""Where generated events go: a small ``Sink`` contract and its variants.

``DrySink`` (``--dry-run``), ``ConnectorSink`` (HTTP, the default), ``KafkaSink``,
``JsonlSink`` and ``ParquetSink``. Variants with heavy dependencies are imported
from their own modules when used.
"""

from sendflowr.generator.outputs.base import DrySink, Sink, SinkStats

__all__ = ["DrySink", "Sink", "SinkStats"]
