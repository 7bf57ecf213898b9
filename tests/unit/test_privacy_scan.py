"""The privacy scan itself: it must see the addresses it exists to find."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from tests.privacy import ADDRESS, Findings, LeakHandler, scan_files


@pytest.mark.parametrize(
    "text",
    ["ann@example.com", "Reader.1@Example.org", "josé@example.com", "leak@exämple.com",
     "ñame@bücher.de", "leak@localhost", "a+b@sub.domain.co.uk"],
)  # fmt: skip
def test_addresses_are_recognised(text: str) -> None:
    assert ADDRESS.search(f"subject: hi {text}, news") is not None


@pytest.mark.parametrize(
    "text",
    ["sendflowr-sink:end=1,2", "[email]", "user at example.com", "rdkafka#producer-1",
     "a3f1c0de@9", "x@1.2"],
)  # fmt: skip
def test_non_addresses_are_not(text: str) -> None:
    assert ADDRESS.search(text) is None


def test_files_and_logs_are_scanned() -> None:
    # Outside the session's temp folder and off the root logger: the session's own closing
    # scan must not see these planted addresses.
    with tempfile.TemporaryDirectory() as folder:
        _scan_planted(Path(folder))


def _scan_planted(tmp_path: Path) -> None:
    findings = Findings()
    (tmp_path / "clean.log").write_text("nothing here\n")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "leak.jsonl").write_text('{"subject": "hi ann@example.com"}\n')
    assert scan_files(tmp_path, findings) == 2
    assert len(findings.items) == 1 and "leak.jsonl" in findings.items[0]
    assert "ann@" not in findings.items[0]  # the finding itself is redacted

    logger = logging.getLogger("privacy-scan-test")
    logger.propagate = False
    handler = LeakHandler(findings)
    logger.addHandler(handler)
    try:
        logger.warning("resolved %s", "bob@example.org")
    finally:
        logger.removeHandler(handler)
    assert len(findings.items) == 2
