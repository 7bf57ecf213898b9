"""End-to-end benchmark: generator → connector (HTTP) → Kafka → sink → ClickHouse.

Runs in a temporary SENDFLOWR_HOME on free ports: starts the project's Kafka
broker and a background `sendflowr serve`, then

1. sends the full history (~90K events) through the connector in batches and
   measures wall time until the sink has stored the last row (consumer lag 0
   and `count()` equal to the events acknowledged);
2. as the baseline, in the same run, sends a sample with ONE event per request
   (the seed script's way, without its 100 req/s limit) and measures the same;
3. runs the live mode (`sendflowr simulate --speed max`) over 4 simulated weeks and
   measures its sustained rate the same way.

Prints wall times, events/s and the ratio. Usage:

    python bench/e2e.py [--sample 2000] [--batch-size 1000] [--seed 42]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _figures import add_json_option, write_json
from sendflowr.auth import read_token
from sendflowr.cli.up import wait_until_stored
from sendflowr.kafka import LocalKafka
from sendflowr.serve.daemon import ServeProcess
from sendflowr.settings import Settings
from sendflowr.store.remote import RemoteQuery


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stored(admin: RemoteQuery, database: str) -> int:
    rows = admin.query("SELECT count() FROM {db:Identifier}.email_events", {"db": database}).rows
    return int(rows[0][0])


def _run(
    label: str,
    args: list[str],
    admin: RemoteQuery,
    settings: Settings,
    before: int,
    command: str = "generate",
) -> dict:
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "sendflowr", command, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    sent_at = time.perf_counter()
    if proc.returncode != 0:
        sys.exit(f"{label}: {command} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    # Offsets are committed only after ClickHouse acknowledged the rows: lag 0 = all stored.
    wait_until_stored(settings, timeout=900)
    wall = time.perf_counter() - began
    stored = _stored(admin, settings.clickhouse_database) - before
    return {
        "label": label,
        "events": stored,
        "generate_s": sent_at - began,
        "wall_s": wall,
        "events_per_s": stored / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=2000, help="events in the 1-per-request run")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    add_json_option(parser)
    opts = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sendflowr-e2e-"))
    env = {
        "SENDFLOWR_HOME": str(home),
        "SENDFLOWR_KAFKA_PORT": str(_free_port()),
        "SENDFLOWR_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "SENDFLOWR_CONNECTOR_PORT": str(_free_port()),
        "SENDFLOWR_INFERENCE_PORT": str(_free_port()),
        "SENDFLOWR_ADMIN_PORT": str(_free_port()),
    }
    os.environ.update(env)
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{env['SENDFLOWR_KAFKA_PORT']}"
    settings = Settings()
    broker = LocalKafka(settings)
    serve = ServeProcess(settings)
    try:
        broker.start()
        serve.start()
        admin = RemoteQuery(f"http://127.0.0.1:{settings.admin_port}", read_token(settings.home))
        url = f"http://127.0.0.1:{settings.connector_port}"
        common = ["--connector-url", url, "--rate", "1000000", "--no-progress"]
        full = _run(
            f"full history, batches of {opts.batch_size}",
            [*common, "--seed", str(opts.seed), "--batch-size", str(opts.batch_size)],
            admin,
            settings,
            0,
        )
        single = _run(
            "sample, 1 event per request",
            [
                *common,
                "--seed",
                str(opts.seed + 1),
                "--count",
                str(opts.sample),
                "--batch-size",
                "1",
            ],
            admin,
            settings,
            full["events"],
        )
        # Live mode at --speed max: the world run forward on its clock (4 simulated weeks).
        live = _run(
            "live mode --speed max, 4 weeks",
            [
                "--connector-url", url, "--no-progress", "--seed", str(opts.seed),
                "--speed", "max", "--start", "2026-01-10", "--until", "2026-02-07",
            ],
            admin,
            settings,
            full["events"] + single["events"],
            command="simulate",
        )  # fmt: skip
    finally:
        serve.stop()
        broker.stop()
    print(f"{'run':<36} {'events':>8} {'generate s':>11} {'wall s':>8} {'events/s':>10}")
    for r in (full, single, live):
        print(
            f"{r['label']:<36} {r['events']:>8} {r['generate_s']:>11.2f} "
            f"{r['wall_s']:>8.2f} {r['events_per_s']:>10.0f}"
        )
    print(f"live mode sustained (--speed max, stored): {live['events_per_s']:,.0f} events/s")
    ratio = full["events_per_s"] / single["events_per_s"]
    print(f"ratio batched / one-per-request: {ratio:.1f}x")
    seed_minutes = full["events"] / 100 / 60
    print(
        f"full history stored in {full['wall_s']:.1f} s (target <= 10 s); the seed's flow at "
        f"1 event/request and 100 req/s would need ~{seed_minutes:.0f} min"
    )
    write_json(opts.json, "e2e", {
        "runs": {"full_history": full, "one_per_request": single, "live_max_speed": live},
        "batched_over_single": round(ratio, 2),
        "seed_flow_minutes": round(seed_minutes, 1),
    })  # fmt: skip


if __name__ == "__main__":
    main()
