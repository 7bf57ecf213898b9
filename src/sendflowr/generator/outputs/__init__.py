"""Where generated events go: a small ``Output`` contract and its variants.

``DryRunOutput`` (``--dry-run``), ``ConnectorOutput`` (HTTP, the default), ``KafkaOutput``,
``JsonlOutput`` and ``ParquetOutput``. Variants with heavy dependencies are imported
from their own modules when used.
"""

from sendflowr.generator.outputs.base import DryRunOutput, Output, OutputStats

__all__ = ["DryRunOutput", "Output", "OutputStats"]
