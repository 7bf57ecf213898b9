"""The session's last test: no raw address anywhere the system wrote during the tests."""

from __future__ import annotations

import pytest

from tests.conftest import SESSION_BROKER
from tests.privacy import Findings, scan_files, scan_kafka


def test_no_raw_address_in_kafka_clickhouse_logs_or_files(
    privacy_findings: Findings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    records = sum(scan_kafka(bootstrap, privacy_findings) for bootstrap in SESSION_BROKER)
    files = scan_files(tmp_path_factory.getbasetemp(), privacy_findings)
    print(f"privacy scan: {records} Kafka records, {files} files, findings so far included")
    assert not privacy_findings.items, "\n".join(sorted(set(privacy_findings.items))[:20])
