"""The sink's memory does not grow with the number of events it has loaded.

A sink runs in a process of its own (``sink_memory_worker``: its RSS is the
sink's alone, with its embedded engine) while generated histories are published
round after round. Its RSS after N events and after 4N must be within a margin
far below what holding the extra events would cost. The id memory is capped
small, so its (configured) growth ends in the first round.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sendflowr.generator import model_for
from sendflowr.generator.outputs.kafka import KafkaOutput
from sendflowr.generator.run import Plan, run
from sendflowr.settings import Settings
from tests.conftest import unique_name

ROOT = Path(__file__).resolve().parents[2]
USERS = 200  # ~46,000 events a round (each round a new seed: new event ids)
ROUNDS_TO_N, ROUNDS_TO_4N = 2, 8
#: Growth allowed from N to 4N events. Keeping what the sink loaded would cost ~1 KB
#: an event (Kafka record, decoded event, JSON line): ~280 MB for the 3N here.
MARGIN = 64 * 1024**2


def test_sink_rss_after_4n_events_is_within_a_margin_of_after_n(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    spec = {
        "home": str(tmp_path / "sink"),
        "bootstrap": kafka_bootstrap,
        "topic": topic,
        "group": unique_name("group"),
        "recent_ids": 20_000,
    }
    command = [sys.executable, "-m", "tests.integration.sink_memory_worker", json.dumps(spec)]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    ) as worker:
        assert worker.stdin is not None and worker.stdout is not None
        rss = _load_rounds(worker, kafka_bootstrap, topic, tmp_path)
    growth = rss[ROUNDS_TO_4N] - rss[ROUNDS_TO_N]
    print(f"sink RSS {rss[ROUNDS_TO_N] / 1e6:.0f} MB → {rss[ROUNDS_TO_4N] / 1e6:.0f} MB")
    assert growth <= MARGIN, f"RSS grew {growth / 1e6:.0f} MB from N to 4N events"


def _load_rounds(
    worker: subprocess.Popen[str], kafka_bootstrap: str, topic: str, tmp_path: Path
) -> dict[int, int]:
    """Publish the rounds; the sink's RSS after rounds ``ROUNDS_TO_N`` and ``ROUNDS_TO_4N``."""
    assert worker.stdin is not None and worker.stdout is not None
    try:
        assert worker.stdout.readline().strip() == "ready"
        model = model_for(None)
        history = model.world.history
        settings = Settings(
            home=tmp_path / "generator", kafka_bootstrap_servers=kafka_bootstrap, topic=topic
        )
        produced, rss = 0, {}
        for round_ in range(1, ROUNDS_TO_4N + 1):
            plan = Plan(model, 1000 + round_, history.start, history.end, users=USERS)
            result = run(plan, KafkaOutput(model, settings, timeout=120))
            assert result.stats.acknowledged == result.total
            produced += result.total
            if round_ in (ROUNDS_TO_N, ROUNDS_TO_4N):
                worker.stdin.write(f"{produced}\n")
                worker.stdin.flush()
                _, resident, _tracked, handled = worker.stdout.readline().split()
                assert int(handled) == produced
                rss[round_] = int(resident)
        worker.stdin.close()
        assert worker.wait(120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    return rss
