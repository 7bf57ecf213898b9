"""How fast are timing decisions? One decision, and 10,000 through the batch endpoint.

Loads the full generated history into an in-process chDB under a temp
SENDFLOWR_HOME (one engine per process), serves the inference app with uvicorn
on a free loopback port and times real HTTP calls:

- the curve fit (every user, one evidence query), once;
- ``POST /timing-decision``: p50 / p95 of 200 calls;
- ``POST /timing-decisions`` with 10,000 recipients (target ≤ 2 s), 5 runs each:
  the realistic audience (the 350 users with history + 9,650 cold ones, all
  distinct) and the worst case (10,000 distinct users, each with its own curve:
  the fitted curves tiled under new ids, so nothing is shared);
- the worst case through the engine alone (no HTTP, no JSON), for the breakdown.

The engine runs as the inference role does (issue 16): context from memory
(``timing.live.LiveSource``, loaded from the store once) and explanations written
in batches off the request path. With ``--bootstrap HOST:PORT`` (a running broker,
e.g. ``sendflowr kafka start``) it also measures signal-to-effect: a complaint
acknowledged by Kafka → the live context (what every decision reads) shows it,
p50/p95 over 50 signals. ``--json FILE`` writes ``single_p50_ms``, ``batch_10k_s``,
``signal_to_effect_p50_s``, ``signal_to_effect_p95_s`` (null when not measured).

    python bench/timing_speed.py [--seed 42] [--batch 10000] [--bootstrap H:P] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from _timing_common import load_history
from sendflowr.events import CanonicalEvent, encode_event
from sendflowr.kafka import ensure_topics, producer_config
from sendflowr.kafka.publish import Delivery, KafkaProducer
from sendflowr.settings import Settings
from sendflowr.timing.api import create_app
from sendflowr.timing.curves import CurveModel
from sendflowr.timing.decisions import DecisionRequest
from sendflowr.timing.engine import _Cached
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.live import BatchedExplanations, LiveContexts, LiveFollower, LiveSource
from sendflowr.timing.sources import MemorySource, evidence_from_rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--bootstrap", default=None, help="a broker for signal-to-effect")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    h = load_history(args.seed)
    engine = h.engine()
    t0 = time.perf_counter()
    model = engine.curves(refresh=True)
    fit = time.perf_counter() - t0
    known = list(model.universal_ids)
    realistic = known + [f"sf_cold{i:013d}" for i in range(args.batch - len(known))]
    tiled = _tile(model, args.batch)
    worst = tiled.universal_ids
    engine._cached = _Cached(tiled, h.now.timestamp())  # every recipient has its own curve
    live = LiveContexts()  # --- the inference role's live context (issue 16) ---
    LiveFollower(h.settings, live, store=h.store, clock=engine.clock).load_store()
    engine.source = LiveSource(engine.source, live)
    batched = BatchedExplanations(engine.explanations)
    batched.start()
    engine.explanations = batched

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(lambda: engine), host="127.0.0.1", port=port,
                       log_level="warning", lifespan="on")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            single = []
            for i in range(200):
                t = time.perf_counter()
                r = client.post("/timing-decision", json={"universal_id": worst[i % len(worst)]})
                single.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
            batches = {name: _batch(client, ids) for name, ids in
                       (("realistic", realistic), ("worst", worst))}  # fmt: skip
        direct = []
        for _ in range(3):
            t = time.perf_counter()
            engine.decide(DecisionRequest(worst))
            direct.append(time.perf_counter() - t)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        batched.stop()
    effect = _signal_to_effect(args.bootstrap) if args.bootstrap else []

    single.sort()
    print(f"seed {args.seed}: {len(known)} users with history; curve fit {fit * 1000:.0f} ms")
    print(f"{'measure':<44}{'p50 / median':>14}{'p95 / min':>12}")
    print(f"{'POST /timing-decision (200 calls)':<44}{single[100] * 1000:>11.1f} ms"
          f"{single[189] * 1000:>9.1f} ms")  # fmt: skip
    for name, label in (("realistic", "350 warm + cold"), ("worst", "all distinct warm")):
        batch = batches[name]
        print(f"{f'POST /timing-decisions {args.batch:,}, {label}':<44}"
              f"{statistics.median(batch):>12.2f} s{min(batch):>10.2f} s")  # fmt: skip
    print(f"{f'engine only {args.batch:,}, all distinct warm':<44}"
          f"{statistics.median(direct):>12.2f} s{min(direct):>10.2f} s")  # fmt: skip
    worst_median = statistics.median(batches["worst"])
    print(
        f"batch target ≤ 1 s (issue 16; worst case): {'meets' if worst_median <= 1.0 else 'MISSES'}"
    )
    s2e = (effect[len(effect) // 2], effect[int(0.95 * (len(effect) - 1))]) if effect else None
    if s2e:
        print(f"signal-to-effect ({len(effect)} complaints, Kafka ack → live context): "
              f"p50 {s2e[0]:.3f} s, p95 {s2e[1]:.3f} s (target p95 ≤ 2 s)")  # fmt: skip
    else:
        print("signal-to-effect: not measured (give --bootstrap HOST:PORT)")
    if args.json:
        figures = {
            "single_p50_ms": round(single[100] * 1000, 3),
            "single_p95_ms": round(single[189] * 1000, 3),
            "batch_10k_s": round(statistics.median(batches["worst"]), 3),
            "batch_10k_realistic_s": round(statistics.median(batches["realistic"]), 3),
            "signal_to_effect_p50_s": round(s2e[0], 4) if s2e else None,
            "signal_to_effect_p95_s": round(s2e[1], 4) if s2e else None,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _signal_to_effect(bootstrap: str, n: int = 50) -> list[float]:
    """Seconds from Kafka's ack of a complaint to the live context showing it."""
    topic = f"bench-s2e-{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic=topic,
                        consumer_group=f"bench-{uuid.uuid4().hex[:8]}")  # fmt: skip
    ensure_topics(bootstrap, [(topic, 3)])
    live = LiveContexts()
    follower = LiveFollower(settings, live)
    follower.start()
    producer = KafkaProducer(producer_config(settings, **{"linger.ms": 0}))
    producer.start()
    source = LiveSource(MemorySource(evidence_from_rows([])), live)
    out = []
    try:
        time.sleep(1.0)  # the follower's first fetch
        for i in range(n):
            now = datetime.now(UTC)
            uid = f"sf_s2e{i:012d}"
            event = CanonicalEvent(event_id=str(uuid.uuid4()), event_type="complaint",
                                   timestamp=now, universal_id=uid)  # fmt: skip
            delivery = Delivery(1)
            producer.produce(topic, [(uid.encode(), encode_event(event))], delivery)
            producer.confirm(delivery, 10)
            acked = time.perf_counter()
            while not source.contexts([uid], epoch_minute(datetime.now(UTC))):
                time.sleep(0.001)
            out.append(time.perf_counter() - acked)
    finally:
        producer.stop()
        follower.stop()
    return sorted(out)


def _batch(client: httpx.Client, ids: list[str]) -> list[float]:
    body = {"recipients": [{"universal_id": u} for u in ids]}
    times = []
    for _ in range(5):
        t = time.perf_counter()
        r = client.post("/timing-decisions", json=body)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
        assert r.json()["count"] + len(r.json()["skipped"]) == len(ids)
    return times


def _tile(model: CurveModel, n: int) -> CurveModel:
    """``n`` distinct users whose curves repeat the fitted ones (nothing shared between rows)."""
    reps = -(-n // len(model.universal_ids))

    def tile(a: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        return np.concatenate([a] * reps)[:n]

    return CurveModel(
        config=model.config,
        universal_ids=[f"{u}x{k}" for k in range(reps) for u in model.universal_ids][:n],
        hour_rate=tile(model.hour_rate),
        minute_factor=tile(model.minute_factor),
        exposures=tile(model.exposures),
        engagement=tile(model.engagement),
        recent_exposures=tile(model.recent_exposures),
        cohort_size=tile(model.cohort_size),
        global_hour_rate=model.global_hour_rate,
        global_minute_factor=model.global_minute_factor,
        fitted_at_minute=model.fitted_at_minute,
        version=model.version,
    )


if __name__ == "__main__":
    main()
