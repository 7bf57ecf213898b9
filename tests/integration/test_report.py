"""The fidelity report on a generated full history in real chDB, rendered in headless Chromium."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sendflowr.generator import generate_canonical
from sendflowr.report import Section, write_report
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from tests.conftest import unique_name
from tests.store_support import events_to_columns

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]


@pytest.fixture(scope="module")
def history_report(
    tmp_path_factory: pytest.TempPathFactory, report_settings: Settings
) -> tuple[Path, list[Section]]:
    settings = report_settings
    store = ClickHouseStore(settings)
    store.start()
    events = generate_canonical(seed=7)
    store.insert_columns("email_events", events_to_columns(events, datetime.now(UTC)))
    out = tmp_path_factory.mktemp("report")
    truth = out / "truth.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sendflowr",
            "generate",
            "--dry-run",
            "--seed",
            "7",
            "--truth",
            str(truth),
        ],
        capture_output=True,
        check=True,
        timeout=300,
    )
    try:
        path, sections = write_report(store, store.database, out, truth=truth)
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    return path, sections


@pytest.fixture(scope="module")
def report_settings(session_home: Path) -> Settings:
    return Settings(home=session_home, clickhouse_database=unique_name("report"))


def test_full_history_passes_every_judged_expectation(
    history_report: tuple[Path, list[Section]],
) -> None:
    _, sections = history_report
    results = {e.name: e for s in sections for e in s.expectations}
    failed = {n: (e.measured, e.target) for n, e in results.items() if e.status == "fail"}
    assert not failed
    judged = [e for e in results.values() if e.status == "pass"]
    assert len(judged) >= 15
    assert results["total events (full history)"].status == "pass"
    assert results["email top-of-hour spike (:00–:02 vs rest)"].status == "pass"
    assert results["truth users stored with their persona"].measured == "350/350"
    assert results["sends inside the truth's suppression windows"].status == "pass"


def test_time_zone_sections_judge_local_hours_and_the_dst_shift(
    history_report: tuple[Path, list[Section]],
) -> None:
    _, sections = history_report
    by_key = {s.key: s for s in sections}
    local = by_key["local_hours"]
    judged = {e.name: e.status for e in local.expectations}
    assert len(judged) == 7 and set(judged.values()) == {"pass"}  # personas with quiet hours
    dst = by_key["dst"]
    assert dst.title.startswith("America/New_York across its DST change (2025-11-02)")
    shifts = dict(zip(dst.table["zone"], dst.table["UTC shift (h)"], strict=True))
    assert abs(shifts["America/New_York"] - 1.0) <= 0.5
    control = next(z for z in shifts if z != "America/New_York")
    assert control in ("Asia/Tokyo", "Asia/Kolkata") and abs(shifts[control]) <= 0.5
    assert [e.status for e in dst.expectations] == ["pass", "pass"]


def test_report_is_self_contained(history_report: tuple[Path, list[Section]]) -> None:
    path, sections = history_report
    page = path.read_text()
    assert not re.search(r"(src|href)=\"(https?:|//)", page), "no external resources"
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == sum(1 for s in sections if s.figure) >= 7
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)
def test_report_renders_with_its_plots_in_headless_chromium(
    history_report: tuple[Path, list[Section]], tmp_path: Path
) -> None:
    assert CHROMIUM, "CI installs chromium (see .ci/run)"
    path, _ = history_report
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    plots = re.search(r'data-plots="(\d+)"', dom)
    rendered = re.search(r'data-plots-rendered="(\d+)"', dom)
    assert plots and rendered, "the page's load script did not run"
    assert int(plots.group(1)) >= 7
    assert rendered.group(1) == plots.group(1), "every plot decoded and has a size"

    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            path.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 50_000, "a blank page would compress to almost nothing"
