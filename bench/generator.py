"""Generator benchmark: events/s of a dry run and of the Parquet sink, on one core.

1. dry run of the full history (350 users, ~82K events), best of ``--repeat``;
2. ``--events`` (default 1,000,000) events to a Parquet file (quick mode: users
   in order until the count), wall time including writing and closing the file;
3. the baseline, in the same run: the seed script's way of making events — per
   send ``random`` draws and one Python dict per event — timed on 30,000 sends.

Usage:

    taskset -c 0 python bench/generator.py [--events 1000000] [--seed 42]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _figures import add_json_option, write_json
from sendflowr.generator import model_for
from sendflowr.generator.outputs.base import DryRunOutput
from sendflowr.generator.outputs.files import JsonlOutput, ParquetOutput
from sendflowr.generator.run import Plan, run


def _seed_style(sends: int) -> tuple[int, float]:
    """The seed script's way: per send, Python ``random`` draws and one dict per event.

    A compact re-statement of its loop (latency with branches, queue depth,
    engagement, uuid per event) without the HTTP calls; returns (events, seconds).
    """
    began = time.perf_counter()
    out: list[dict[str, object]] = []
    for i in range(sends):
        minute, hour = random.randint(0, 59), random.randint(6, 22)
        depth = 500 * (random.uniform(8, 15) if minute < 3 else 1.0)
        depth *= random.uniform(2, 3.5) if hour in (8, 9, 18, 19) else 1.0
        latency = np.random.lognormal(2.5, 0.4)
        latency *= random.uniform(3, 6) if minute < 3 else 1.0
        latency *= random.uniform(1.5, 2.5) if hour in (8, 9, 18, 19) else 1.0
        latency *= random.uniform(1.8, 2.5) if depth > 5000 else 1.0
        latency = min(latency * random.uniform(0.9, 1.1), 900)
        base = {
            "esp": "klaviyo",
            "recipient_id": f"synth_user_{i % 350:05d}",
            "campaign_id": "promotion",
            "metadata": {"persona": "morning_person", "channel": "email"},
        }
        kinds = ["sent", "delivered"]
        prob = (1.0 if hour in (7, 8, 9) else 0.1) * random.uniform(0.8, 1.2)
        if random.random() < prob * 0.3 or random.random() < 0.35:
            kinds.append("opened")
            if random.random() < 0.43:
                kinds.append("clicked")
        for kind in kinds:
            event = dict(base, event_id=str(uuid.uuid4()), event_type=kind)
            event["metadata"] = dict(base["metadata"], latency_seconds=int(latency))  # type: ignore[call-overload]
            out.append(event)
    return len(out), time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    model = model_for(None)
    history = model.world.history
    full = Plan(model, args.seed, history.start, history.end)

    best = float("inf")
    total = 0
    for _ in range(args.repeat):
        result = run(full, DryRunOutput())
        best, total = min(best, result.elapsed), result.total
    print(f"dry run, full history: {total:,} events in {best:.3f} s = {total / best:,.0f} events/s")

    quick = Plan(model, args.seed, date(2025, 10, 1), date(2026, 1, 10), count=args.events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.parquet"
        began = time.perf_counter()
        result = run(quick, ParquetOutput(model, path))
        elapsed = time.perf_counter() - began
        rows = pq.ParquetFile(path).metadata.num_rows
        size = path.stat().st_size / 1e6
        parquet_s = elapsed
        print(
            f"parquet: {rows:,} events ({result.users:,} users) in {elapsed:.2f} s = "
            f"{rows / elapsed:,.0f} events/s, {size:.1f} MB"
        )
        sample = min(args.events, 200_000)
        jsonl = Path(tmp) / "events.jsonl"
        began = time.perf_counter()
        run(Plan(model, args.seed, quick.start, quick.end, count=sample), JsonlOutput(model, jsonl))
        elapsed = time.perf_counter() - began
        print(f"jsonl: {sample:,} events in {elapsed:.2f} s = {sample / elapsed:,.0f} events/s")
        jsonl_s = elapsed

    events, seconds = _seed_style(30_000)
    baseline = events / seconds
    print(f"baseline, the seed script's per-event loop (no HTTP): {baseline:,.0f} events/s")
    print(f"dry run vs baseline: {total / best / baseline:.1f}x")
    write_json(args.json, "generator", {
        "dry_run": {"events": total, "best_s": round(best, 4),
                    "events_per_s": round(total / best), "repeat": args.repeat},
        "parquet": {"events": rows, "users": result.users, "seconds": round(parquet_s, 3),
                    "events_per_s": round(rows / parquet_s), "megabytes": round(size, 2)},
        "jsonl": {"events": sample, "seconds": round(jsonl_s, 3),
                  "events_per_s": round(sample / jsonl_s)},
        "baseline_seed_loop_events_per_s": round(baseline),
        "dry_run_over_baseline": round(total / best / baseline, 2),
    })  # fmt: skip


if __name__ == "__main__":
    main()
