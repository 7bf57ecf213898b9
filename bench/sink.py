"""Sink throughput: rows/s from the events topic into ``email_events`` (chDB).

Starts its own Kafka broker (``LocalKafka`` on free ports in a temporary
SENDFLOWR_HOME), produces ``--events`` canonical events (3 partitions, in time
order as a live stream brings them; ``--shuffled`` for random times), then
runs the sink in this process, each run in a fresh consumer group and database:

1. ``--batch-size`` rows per chunk (default 20,000), default settings (duplicate
   check on, answered from the id memory while it holds the whole table);
2. the same with the ids of every chunk checked in ClickHouse (what a sink on a
   server does; ``SENDFLOWR_SINK_RECENT_IDS=0``);
3. the same with no duplicate check (its cost);
4. batches of 100 rows (the baseline), for ``--baseline-seconds`` at most;

and prints rows/s of each, from the first record received to the last commit
(and, for reference, from the partition assignment, so including the first
fetch), and the ratio of run 1 to the baseline.
Run: ``python bench/sink.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).parent))
from _figures import add_json_option, write_json
from sendflowr.events import CanonicalEvent, encode_event, uuid7
from sendflowr.kafka import LocalKafka, ensure_topics, producer_config
from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.store import ClickHouseStore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_values(n: int, seed: int = 11, *, shuffled: bool = False) -> list[tuple[bytes, bytes]]:
    """(key, value) of ``n`` realistic canonical events over 100 days, in time order as a
    live stream brings them (``shuffled``: at random times, so every chunk spans months)."""
    rng = random.Random(seed)
    base = datetime(2025, 10, 1, tzinfo=UTC)
    kinds = ("sent", "delivered", "opened", "clicked")
    span = 86_400 * 100
    out = []
    for i in range(n):
        offset = rng.uniform(0, span) if shuffled else i * span / n + rng.uniform(0, 1)
        ts = base + timedelta(seconds=offset)
        kind = kinds[i % 4]
        uid = f"sf_{rng.randrange(5000):016x}"
        extra: dict[str, Any] = {}
        if kind == "delivered":
            sent = ts - timedelta(seconds=rng.uniform(1, 60))
            extra = {
                "send_time": sent,
                "latency_seconds": (ts - sent).total_seconds(),
                "hour_of_day": sent.hour,
                "minute": sent.minute,
                "day_of_week": sent.weekday(),
                "payload_size_bytes": rng.randrange(40_000, 140_000),
                "queue_depth_estimate": rng.randrange(50, 10_000),
            }
        event = CanonicalEvent(
            event_id=uuid7(ts, rng.randbytes(10)),
            event_type=kind,
            timestamp=ts,
            esp="klaviyo",
            universal_id=uid,
            recipient_email_hash=f"{rng.getrandbits(256):064x}",
            campaign_id="newsletter",
            campaign_name="Weekly newsletter",
            message_id=f"msg-{i // 4}",
            subject="Your weekly picks",
            user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
            ip_address=f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            metadata={"persona": "morning_person", "channel": "email"},
            campaign_type="promotional",
            channel="email",
            **extra,
        )
        out.append((uid.encode(), encode_event(event)))
    return out


def produce(settings: Settings, values: list[tuple[bytes, bytes]]) -> None:
    producer = Producer(producer_config(settings))
    for key, value in values:
        while True:
            try:
                producer.produce(settings.topic, value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60):
        raise SystemExit("events not acknowledged by Kafka")


def run(settings: Settings, expected: int, limit: float) -> tuple[float, float, int]:
    """Consume until ``expected`` rows are stored or ``limit`` seconds passed.

    Returns rows/s from the first record received, rows/s from the partition
    assignment (so including the first fetch), and the rows stored.
    """
    store = ClickHouseStore(settings)
    store.start()
    sink = SinkConsumer(settings, store)
    sink.start()
    deadline = time.monotonic() + limit + 30
    while sink.stats.stored < expected and time.monotonic() < deadline:
        if sink.stats.assigned_at and time.monotonic() - sink.stats.assigned_at > limit:
            break
        time.sleep(0.01)
    done = time.monotonic()
    stored = sink.stats.stored
    sink.stop()
    assigned = sink.stats.assigned_at or done
    first = sink.stats.first_record_at or done
    counted = int(store.count_events())
    if counted != sink.stats.stored:
        raise SystemExit(f"count() = {counted} but the sink reports {sink.stats.stored}")
    store.stop()
    return stored / max(done - first, 1e-9), stored / max(done - assigned, 1e-9), stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument(
        "--shuffled", action="store_true", help="events at random times, not in time order"
    )
    parser.add_argument("--verbose", action="store_true")
    add_json_option(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    home = Path(tempfile.mkdtemp(prefix="sendflowr-bench-sink-"))
    base = Settings(home=home, kafka_port=free_port(), kafka_controller_port=free_port())
    broker = LocalKafka(base)
    broker.start()
    try:
        topic = f"bench_{uuid.uuid4().hex[:8]}"
        ensure_topics(broker.bootstrap, [(topic, 3), (f"{topic}-dlq", 1)])

        def settings(**overrides: object) -> Settings:
            values: dict[str, object] = {
                "home": home,
                "kafka_bootstrap_servers": broker.bootstrap,
                "topic": topic,
                "dlq_topic": f"{topic}-dlq",
                "consumer_group": f"g_{uuid.uuid4().hex[:8]}",
                "clickhouse_database": f"db_{uuid.uuid4().hex[:8]}",
                "sink_batch_size": args.batch_size,
            }
            values.update(overrides)
            return Settings(**values)  # type: ignore[arg-type]

        started = time.perf_counter()
        produce(settings(), make_values(args.events, shuffled=args.shuffled))
        print(f"produced {args.events:,} events in {time.perf_counter() - started:.1f}s")

        header = f"{'run':<48}{'rows/s':>10}{'incl. 1st fetch':>17}{'rows':>10}"
        print(header)
        batches = f"batches of {args.batch_size:,}"
        runs: list[tuple[str, dict[str, object], float]] = [
            (f"{batches} (defaults)", {}, 120.0),
            (f"{batches}, ids checked in ClickHouse", {"sink_recent_ids": 0}, 120.0),
            (f"{batches}, no duplicate check", {"sink_dedup_lookup": False}, 120.0),
        ]
        runs.append(
            (
                "batches of 100 (baseline)",
                {"sink_batch_size": 100, "sink_max_wait_ms": 50},
                args.baseline_seconds,
            )
        )
        results = []
        figures: dict[str, object] = {"events": args.events, "shuffled": args.shuffled, "runs": []}
        for label, overrides, limit in runs:
            rate, with_fetch, rows = run(settings(**overrides), args.events, limit)
            results.append(rate)
            figures["runs"].append(  # type: ignore[attr-defined]
                {"run": label, "rows_per_s": round(rate), "rows_per_s_with_first_fetch":
                 round(with_fetch), "rows": rows}
            )  # fmt: skip
            print(f"{label:<48}{rate:>10,.0f}{with_fetch:>17,.0f}{rows:>10,}")
        big, asked, plain, small = results
        print(f"ratio (defaults / baseline): {big / small:.1f}x")
        print(
            f"with the duplicate check / without: {big / plain:.2f}x from memory, "
            f"{asked / plain:.2f}x asking ClickHouse"
        )
        figures["defaults_over_baseline"] = round(big / small, 2)
        figures["dedup_cost"] = {
            "memory": round(big / plain, 3),
            "clickhouse": round(asked / plain, 3),
        }
        write_json(args.json, "sink", figures)
    finally:
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
