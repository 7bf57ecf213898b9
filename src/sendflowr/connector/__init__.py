"""The connector: HTTP ingestion → identity resolution → email hashing → Kafka.

``create_app(settings)`` builds the FastAPI app; ``role.build`` hands it to
``sendflowr serve``. The ingestion path (``Ingestor``) is shared by the batch,
single-event, mock and webhook endpoints.
"""

from sendflowr.connector.app import create_app
from sendflowr.connector.ingest import Ingestor, IngestResult
from sendflowr.connector.publisher import KafkaPublisher, MemoryPublisher, Publisher

__all__ = [
    "IngestResult",
    "Ingestor",
    "KafkaPublisher",
    "MemoryPublisher",
    "Publisher",
    "create_app",
]
