"""``--sink store``: streamed blocks land in chDB exactly once, as generate_arrow has them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from click.testing import CliRunner

from sendflowr.cli import main
from sendflowr.generator import generate_arrow, model_for
from sendflowr.generator.outputs.store import StoreOutput
from sendflowr.generator.run import Plan, generate_blocks, run
from sendflowr.store import ClickHouseStore

START, END = date(2025, 10, 1), date(2025, 11, 15)


def test_streamed_blocks_are_stored_once_and_equal_the_whole_history(
    store: ClickHouseStore,
) -> None:
    model = model_for(None)
    plan = Plan(model, 17, START, END, users=40)
    blocks = list(generate_blocks(plan, chunk_events=1_000))
    assert len(blocks) > 3

    result = run(plan, StoreOutput(model, store))
    assert result.stats.acknowledged == result.total == store.count_events()
    again = run(plan, StoreOutput(model, store))  # same seed: the tokens drop every block
    assert again.stats.acknowledged == result.total == store.count_events()

    whole = generate_arrow(model, 17, users=40, start=START, end=END)
    expected = sorted(zip(whole.column("event_id").to_pylist(),
                          whole.column("universal_id").to_pylist(),
                          whole.column("event_type").to_pylist(), strict=True))  # fmt: skip
    stored = store.query(
        f"SELECT toString(event_id), universal_id, event_type FROM {store.events_table}"  # noqa: S608
    )
    assert sorted(tuple(r) for r in stored.rows) == expected


def test_generate_cli_with_store_sink_loads_once_and_prints_progress_lines(
    store: ClickHouseStore, session_home: Path
) -> None:
    env = {
        "SENDFLOWR_HOME": str(session_home),
        "SENDFLOWR_CLICKHOUSE_DATABASE": store.database,
    }
    args = ["generate", "--users", "30", "--seed", "8", "--end", "2025-11-01", "--sink", "store"]
    first = CliRunner().invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    assert "Sink: store" in first.output
    # Not a terminal: plain progress lines (rate and ETA) instead of a bar.
    assert "generate: " in first.stderr and "events/s" in first.stderr
    stored = store.count_events()
    whole = generate_arrow(model_for(None), 8, users=30, start=START, end=date(2025, 11, 1))
    assert stored == len(whole) > 0
    again = CliRunner().invoke(main, args, env=env)  # same seed: every block dropped
    assert again.exit_code == 0, again.output
    assert store.count_events() == stored
