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

    python bench/timing_speed.py [--seed 42] [--batch 10000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from _timing_common import load_history
from sendflowr.timing.api import create_app
from sendflowr.timing.curves import CurveModel
from sendflowr.timing.decisions import DecisionRequest
from sendflowr.timing.engine import _Cached


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch", type=int, default=10_000)
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
    print(f"batch target ≤ 2 s (worst case): {'meets' if worst_median <= 2.0 else 'MISSES'}")


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
        newest_minute=tile(model.newest_minute),
        segment_profiles=model.segment_profiles,
        segment_weights=model.segment_weights,
        segment_resp=tile(model.segment_resp),
    )


if __name__ == "__main__":
    main()
