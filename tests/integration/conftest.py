from collections.abc import Iterator

import pytest

from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from tests.conftest import drop_database
from tests.privacy import Findings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def sink_store(kafka_settings: Settings, privacy_findings: Findings) -> Iterator[ClickHouseStore]:
    """A started store on the test's own database (``kafka_settings``), scanned and dropped."""
    store = ClickHouseStore(kafka_settings)
    store.start()
    try:
        yield store
    finally:
        drop_database(store, privacy_findings)
        store.stop()
