"""The CLI's foundation commands, run as a user would (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sendflowr", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_kafka_start_without_java_or_maven_prints_one_line_hint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # python only: no java, no mvn
    env["SENDFLOWR_HOME"] = str(tmp_path)
    result = _run(["kafka", "start"], env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Java 17" in lines[0] and "install" in lines[0]


def test_sql_syntax_error_prints_clickhouse_message(tmp_path: Path) -> None:
    env = dict(os.environ, SENDFLOWR_HOME=str(tmp_path))
    env.pop("CLICKHOUSE_URL", None)
    result = _run(["sql", "SELEC 1"], env)
    assert result.returncode != 0
    assert "Syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_sql_prints_table_csv_and_json(tmp_path: Path) -> None:
    env = dict(os.environ, SENDFLOWR_HOME=str(tmp_path))
    env.pop("CLICKHOUSE_URL", None)
    table = _run(["sql", "SELECT 1 AS one, 'a''b' AS s"], env)
    assert table.returncode == 0 and "one" in table.stdout and "a'b" in table.stdout
    csv_out = _run(["sql", "--format", "csv", "SELECT 1 AS one"], env)
    assert csv_out.stdout.splitlines() == ["one", "1"]
    json_out = _run(["sql", "--format", "json", "SELECT 1 AS one"], env)
    assert json_out.stdout.strip() == '{"one": 1}'
