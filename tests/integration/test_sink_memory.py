"""The sink's memory does not grow with the number of events it has loaded.

A sink runs in a process of its own (``sink_memory_worker``: its memory is the
sink's alone, with its embedded engine) while generated histories are published
round after round, and is measured after N events and after 4N:

- Python's allocated blocks (after a full collection): exact, so the bound is
  tight — keeping one object per event would add ~555,000;
- RSS (its floor over 3 s): what the system sees, C allocations included (the
  engine's, librdkafka's). It rises by 60-170 MB over the first few hundred
  thousand events while they warm up (not Python objects, not threads, not
  freed pages: a trim and a purge release nothing more), then holds (measured
  from ~0.5M to 1.9M events: +20 MB), so its bound is coarse: it catches keeping
  half of each event's record (~1 KB), not a few bytes an event.

The id memory is capped small, so its (configured) growth ends in the first round.
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
USERS = 400  # ~92,000 events a round (each round a new seed: new event ids)
ROUNDS_TO_N, ROUNDS_TO_4N = 2, 8
#: Python blocks allowed to appear from N to 4N events (3N = ~555,000 events): the bot
#: check's caches (16,384 addresses, 4,096 user agents, ~2 blocks an entry) fill as new
#: clients appear (measured: +10,000).
BLOCKS_MARGIN = 60_000
#: RSS growth allowed from N to 4N events (keeping ~1 KB an event would add ~555 MB).
RSS_MARGIN = 256 * 1024**2


def test_sink_memory_after_4n_events_is_within_a_margin_of_after_n(
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
        at = _load_rounds(worker, kafka_bootstrap, topic, tmp_path)
    n, four_n = at[ROUNDS_TO_N], at[ROUNDS_TO_4N]
    assert four_n["blocks"] - n["blocks"] <= BLOCKS_MARGIN, (n, four_n)
    assert four_n["rss"] - n["rss"] <= RSS_MARGIN, (n, four_n)


def _load_rounds(
    worker: subprocess.Popen[str], kafka_bootstrap: str, topic: str, tmp_path: Path
) -> dict[int, dict[str, int]]:
    """Publish the rounds; the sink's memory after rounds ``ROUNDS_TO_N`` and ``ROUNDS_TO_4N``."""
    assert worker.stdin is not None and worker.stdout is not None
    measured: dict[int, dict[str, int]] = {}
    try:
        assert worker.stdout.readline().strip() == "ready"
        model = model_for(None)
        history = model.world.history
        settings = Settings(
            home=tmp_path / "generator", kafka_bootstrap_servers=kafka_bootstrap, topic=topic
        )
        produced = 0
        for round_ in range(1, ROUNDS_TO_4N + 1):
            plan = Plan(model, 1000 + round_, history.start, history.end, users=USERS)
            result = run(plan, KafkaOutput(model, settings, timeout=120))
            assert result.stats.acknowledged == result.total
            produced += result.total
            if round_ not in (ROUNDS_TO_N, ROUNDS_TO_4N):
                continue
            worker.stdin.write(f"{produced}\n")
            worker.stdin.flush()
            _, rss, anon, files, _tracked, blocks, handled = worker.stdout.readline().split()
            assert int(handled) == produced
            measured[round_] = {"events": produced, "rss": int(rss), "blocks": int(blocks)}
            print(
                f"after {produced:,} events: RSS {int(rss) / 1e6:.0f} MB (anonymous "
                f"{int(anon) / 1e6:.0f} MB, files {int(files) / 1e6:.0f} MB), "
                f"{int(blocks):,} Python blocks"
            )
        worker.stdin.close()
        assert worker.wait(120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    return measured
