"""``sendflowr generate`` and the seed's script: options, errors, files, no services."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
from click.testing import CliRunner

from sendflowr.cli import main
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["generate", "--no-progress", *args])
    return result.exit_code, result.output


def test_summary_needs_no_service() -> None:
    code, out = _run("--summary")
    assert code == 0
    assert "Users: 350" in out and "101 days" in out and "morning_person" in out
    assert "Expected events: ~8" in out


def test_dry_run_reports_counts_and_seed() -> None:
    code, out = _run("--dry-run", "--seed", "42")
    assert code == 0
    assert "seed 42" in out and "nothing (dry run)" in out and "80,081" in out


def test_seed_is_printed_when_not_given() -> None:
    code, out = _run("--dry-run", "--count", "50")
    assert code == 0 and "repeat with --seed" in out


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    bad_world = tmp_path / "w.json"
    bad_world.write_text("{}")
    cases = {
        ("--count", "-1"): "--count",
        ("--shard", "3/2", "--dry-run"): "--shard",
        ("--world", str(bad_world), "--dry-run"): "--world",
        ("--start", "2025-13-01", "--dry-run"): "--start",
        ("--sink", "jsonl", "--count", "5"): "--output",
        ("--count", "5", "--shard", "0/2", "--dry-run"): "--shard",
    }
    for args, flag in cases.items():
        code, out = _run(*args)
        assert code == 2, (args, out)
        error = [line for line in out.splitlines() if line.startswith("Error:")]
        assert len(error) == 1 and flag in error[0], (args, out)


def test_jsonl_and_truth_files(tmp_path: Path) -> None:
    out, truth = tmp_path / "e.jsonl", tmp_path / "t.jsonl"
    args = ["--seed", "3", "--users", "12", "--end", "2025-11-01", "--sink", "jsonl"]
    code, _ = _run(*args, "--output", str(out), "--truth", str(truth))
    assert code == 0
    again = tmp_path / "again.jsonl"
    assert _run(*args, "--output", str(again))[0] == 0
    assert out.read_bytes() == again.read_bytes()
    records = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    assert len(records) == 12
    assert {"persona", "monthly", "suppressions", "hot_paths", "universal_id"} <= set(records[0])
    assert b"@" not in truth.read_bytes() and b"@" not in out.read_bytes()


def test_parquet_sink(tmp_path: Path) -> None:
    out = tmp_path / "e.parquet"
    code, _ = _run("--seed", "3", "--count", "3000", "--sink", "parquet", "--output", str(out))
    assert code == 0
    table = pq.read_table(out)
    assert table.num_rows == 3000
    assert table.column("universal_id").to_pylist()[0].startswith("sf_")


def test_connector_down_gives_the_hint_and_fails() -> None:
    code, out = _run("--count", "10", "--connector-url", f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert "Connector API not available" in out and "sendflowr serve" in out


def test_the_seeds_script_has_the_same_options() -> None:
    script = ROOT / "scripts" / "generate-synthetic-data.py"
    done = subprocess.run(
        [sys.executable, str(script), "--summary"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Expected events" in done.stdout
    helped = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=False
    )
    for flag in ("--count", "--dry-run", "--summary", "--seed", "--shard", "--sink", "--truth"):
        assert flag in helped.stdout
