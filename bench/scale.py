"""Scale: generate, load, fit, refresh and decide at 350 … 100,000 users (issue 18).

For each ``--users`` size (default 350,3500,35000,100000) the full history
(101 days, seed ``--seed``) is generated and loaded, then the timing engine is
measured in a process of its own:

- **generate s**: the generator's own share of the load (time spent simulating
  and building blocks, the output's time subtracted), CPU seconds beside it;
- **load s**: wall time from the generator's start until every event is stored,
  on the path a user takes at volume: ``--load kafka`` (default) the generator's
  ``--sink kafka`` into a topic of 3 partitions and the sink (``SinkConsumer``, a
  process of its own, exactly-once rows into chDB) — the production path;
  ``--load store`` the generator's ``--sink store`` (Arrow inserts straight into
  chDB, the bulk-load path; no sink, so no sink RSS);
- **fit s**: ``TimingEngine.curves(refresh=True)``, the full curve fit of every
  recipient, wall (CPU in the JSON);
- **refresh s**: one more simulated hour of events (the next day's first hour of
  the same world, seed + 1) inserted, the clock moved an hour, then
  ``TimingEngine.refresh()`` (incremental: refits only recipients with new
  evidence) — or, where the engine has no ``refresh()``, a full fit, labelled so;
- **batch 10k s**: one decision call for 10,000 recipients (the known ones first,
  cold ones to fill), context from memory as the inference role has it, median
  of 3 calls;
- **engine RSS**: the engine's process (not the generator's, not the sink's):
  base = RSS after imports, the embedded store and an engine fitted on an empty
  database; peak = the process's high-water mark (``ru_maxrss``); per recipient =
  (RSS after fit and refresh − base) / users (the model's memory), and the same
  from the peak (which holds the fit's and a 10,000 batch's working memory too);
- **sink peak RSS**: the sink process's high-water mark over the whole load (its RSS
  every ~10 s is in the JSON as ``sink_rss_timeline``: [rows handled, bytes]);
- **generator peak GB**: the generator process's high-water mark.

``--no-engine`` stops after the load (generator and sink figures only; the engine's
columns show —).

Ratios are against the 3,500-user size of the same run (else the smallest).
Targets at 100,000 users are printed with meets/MISSES. Each worker prints a
progress line (events/s, ETA) on stderr. The latency model is the heuristic one
(no training at each size). A memory guard kills a worker whose RSS passes
``--max-rss-gb`` (shared machine) and reports it.

    flock /tmp/sendflowr-bench.lock nice python bench/scale.py --users 350,3500,35000 \\
        [--load kafka|store] [--seed 42] [--no-engine] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _memory import proc_memory

HERE = Path(__file__).resolve()
BASE_SIZE = 3_500
TARGET_SIZE = 100_000
TARGETS = {  # at 100,000 users (issue 18)
    "fit_s": 60.0,
    "refresh_s": 5.0,
    "batch_10k_s": 1.0,
    "engine_bytes_per_recipient": 2_048.0,
    "sink_peak_rss_bytes": 2 * 1024**3,
    "fit_per_user_ratio": 1.10,  # flat: not growing from 3,500 (10% noise allowed)
}
FULL_FIT_LABEL = "refresh (full fit: incremental not available)"
#: The engine's figures in the JSON (null with --no-engine).
ENGINE_KEYS = ("fit_s", "refresh_s", "batch_10k_s", "engine_rss_bytes", "engine_base_rss_bytes")


# --- memory of a process ----------------------------------------------------------------
def _rss() -> int:
    return proc_memory().get("VmRSS", 0)


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _tracked(store: Any) -> float:
    """Bytes ClickHouse's memory tracker counts in this process (the embedded engine)."""
    sql = "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'"
    return float(store.query(sql).scalar() or 0)


def _emit(result: dict[str, Any]) -> None:
    """A worker's answer: one JSON line on stdout (progress goes to stderr)."""
    result["rss_peak_bytes"] = _peak()
    print("RESULT " + json.dumps(result), flush=True)


# --- workers (each in its own process) ----------------------------------------------------
def _settings(spec: dict[str, Any], database: str = "sendflowr") -> Any:
    from sendflowr.settings import Settings

    values: dict[str, Any] = {"home": Path(spec["home"]), "clickhouse_database": database}
    if spec.get("bootstrap"):
        values.update(
            kafka_bootstrap_servers=spec["bootstrap"],
            topic=spec["topic"],
            dlq_topic=spec["topic"] + "-dlq",
            consumer_group=spec["group"],
        )
    return Settings(**values)


class _TimedOutput:
    """Wraps an output and counts the seconds spent in it (the rest is generation)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds = 0.0
        self.cpu = 0.0

    @property
    def stats(self) -> Any:
        return self.inner.stats

    def _timed(self, call: Any, *args: Any) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            call(*args)
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu

    def open(self) -> None:
        self._timed(self.inner.open)

    def write(self, block: Any) -> None:
        self._timed(self.inner.write, block)

    def close(self) -> None:
        self._timed(self.inner.close)


def worker_generate(spec: dict[str, Any]) -> None:
    """The full history of ``users`` into Kafka (``bootstrap`` set) or the store."""
    from sendflowr.generator import model_for
    from sendflowr.generator.run import Plan, run
    from sendflowr.generator.summary import expected_counts
    from sendflowr.progress import ProgressLine

    started_at = time.time()
    model = model_for(None)
    history = model.world.history
    users = int(spec["users"])
    plan = Plan(model, int(spec["seed"]), history.start, history.end, users=users)
    settings = _settings(spec)
    inner: Any
    if spec.get("bootstrap"):
        from sendflowr.generator.outputs.kafka import KafkaOutput

        inner = KafkaOutput(model, settings, timeout=300.0)
    else:
        from sendflowr.generator.outputs.store import StoreOutput
        from sendflowr.store import ClickHouseStore

        inner = StoreOutput(model, ClickHouseStore(settings), stop_store=True)
    output = _TimedOutput(inner)
    total = round(expected_counts(model, users, history.start, history.end).total)
    bar = ProgressLine(f"generate {users:,} users → {inner.name}", total, every=10)
    wall, cpu = time.perf_counter(), time.process_time()
    result = run(plan, output, on_progress=bar.advance)
    bar.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    Path(spec["home"], "expected").write_text(str(result.total))
    _emit(
        {
            "events": result.total,
            "acknowledged": result.stats.acknowledged,
            "started_at": started_at,
            "done_at": time.time(),
            "wall_s": wall,
            "generate_s": wall - output.seconds,
            "generate_cpu_s": cpu - output.cpu,
            "output_s": output.seconds,
        }
    )


def worker_extra_hour(spec: dict[str, Any]) -> None:
    """One more simulated hour (the first of the day after the history) to an Arrow file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from sendflowr.generator import iter_arrow, model_for
    from sendflowr.generator.outputs.store import plain_columns

    model = model_for(None)
    end = model.world.history.end
    until = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(hours=1)
    began = time.perf_counter()
    tables = []
    for table in iter_arrow(
        model,
        int(spec["seed"]) + 1,
        users=int(spec["users"]),
        start=end,
        end=end + timedelta(days=1),
    ):
        plain = plain_columns(table)
        tables.append(plain.filter(pc.less(plain.column("timestamp"), pa.scalar(until))))
    hour = pa.concat_tables(tables)
    with pa.OSFile(spec["extra"], "wb") as fh, pa.ipc.new_file(fh, hour.schema) as writer:
        writer.write_table(hour)
    _emit({"events": len(hour), "seconds": time.perf_counter() - began})


def worker_sink(spec: dict[str, Any]) -> None:
    """The sink (``SinkConsumer``) until the generator's count is stored."""
    from sendflowr.progress import ProgressLine
    from sendflowr.sink import SinkConsumer
    from sendflowr.store import ClickHouseStore

    settings = _settings(spec)
    store = ClickHouseStore(settings)
    store.start()
    sink = SinkConsumer(settings, store)
    sink.start()
    expected_file = Path(spec["home"], "expected")
    expected: int | None = None
    bar = ProgressLine(f"sink {spec['users']:,} users", None, unit="rows", every=10)
    seen = 0
    rss_samples: list[int] = []
    timeline: list[tuple[int, int]] = []  # (rows handled, RSS bytes) every ~10 s
    while True:
        time.sleep(0.2)
        stats = sink.stats
        done = stats.stored + stats.duplicates + stats.dead_letters
        bar.advance(done - seen)
        seen = done
        rss_samples.append(_rss())
        if len(rss_samples) % 50 == 0:  # every ~10 s: how the sink's memory develops
            timeline.append((done, rss_samples[-1]))
            print(
                f"sink RSS {rss_samples[-1] / 1e9:.2f} GB at {done:,} rows, of which "
                f"ClickHouse tracks {_tracked(store) / 1e9:.2f} GB",
                file=sys.stderr,
            )
        if expected is None and expected_file.exists():
            expected = int(expected_file.read_text())
            bar.total = expected
        if expected is not None and done >= expected:
            break
    done_at = time.time()
    bar.close()
    sink.stop()
    stored = int(store.count_events())
    store.stop()
    _emit(
        {
            "stored": stored,
            "duplicates": sink.stats.duplicates,
            "dead_letters": sink.stats.dead_letters,
            "done_at": done_at,
            "rss_max_sampled_bytes": max(rss_samples, default=0),
            "rss_timeline": timeline,
        }
    )


def worker_engine(spec: dict[str, Any]) -> None:
    """Fit, refresh after one more hour, decide 10,000; RSS at each step."""
    import pyarrow as pa

    from sendflowr.clock import ManualClock
    from sendflowr.generator import model_for
    from sendflowr.generator.outputs.store import arrow_stream
    from sendflowr.store import ClickHouseStore
    from sendflowr.store.schema import EVENTS_TABLE
    from sendflowr.timing.decisions import DecisionRequest
    from sendflowr.timing.engine import TimingEngine
    from sendflowr.timing.explanations import StoreExplanations
    from sendflowr.timing.latency import HeuristicLatency
    from sendflowr.timing.live import BatchedExplanations, LiveContexts, LiveFollower, LiveSource
    from sendflowr.timing.role import curve_config
    from sendflowr.timing.sources import StoreSource

    end = model_for(None).world.history.end
    clock = ManualClock(datetime(end.year, end.month, end.day, tzinfo=UTC))

    def engine_over(store: ClickHouseStore, settings: Any) -> TimingEngine:
        return TimingEngine(
            StoreSource(store),
            StoreExplanations(store),
            HeuristicLatency(),
            config=curve_config(settings),
            clock=clock,
            refresh_seconds=1e12,
        )

    # fixed base: imports, the embedded engine, and an engine fitted on an empty database
    empty_settings = _settings(spec, "scale_empty")
    empty = ClickHouseStore(empty_settings)
    empty.start()
    engine_over(empty, empty_settings).curves(refresh=True)
    base = _rss()

    settings = _settings(spec)
    store = ClickHouseStore(settings)
    store.start()
    engine = engine_over(store, settings)
    wall, cpu = time.perf_counter(), time.process_time()
    engine.curves(refresh=True)
    fit_s, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    after_fit = _rss()
    print(f"engine {spec['users']:,} users: full fit {fit_s:.1f} s", file=sys.stderr, flush=True)

    with pa.OSFile(spec["extra"], "rb") as fh:
        hour = pa.ipc.open_file(fh).read_all()
    if len(hour):
        store.insert_raw(EVENTS_TABLE, hour.column_names, arrow_stream(hour), "ArrowStream")
    clock.advance(timedelta(hours=1))
    refresh = getattr(engine, "refresh", None)
    wall, cpu = time.perf_counter(), time.process_time()
    refitted = None
    if callable(refresh):
        refitted = refresh()
    else:
        engine.curves(refresh=True)
    refresh_s, refresh_cpu = time.perf_counter() - wall, time.process_time() - cpu
    after_refresh = _rss()
    print(f"engine: refresh {refresh_s:.2f} s", file=sys.stderr, flush=True)

    batch = int(spec["batch"])
    known = [
        str(r[0])
        for r in store.query(
            f"SELECT DISTINCT universal_id FROM {store.events_table} LIMIT {batch}"  # noqa: S608
        ).rows
    ]
    ids = known + [f"sf_cold{i:013d}" for i in range(batch - len(known))]
    live = LiveContexts()  # the inference role's context from memory (issue 16)
    LiveFollower(settings, live, store=store, clock=clock).load_store()
    engine.source = LiveSource(engine.source, live)
    batched = BatchedExplanations(engine.explanations)
    batched.start()
    engine.explanations = batched
    times, cpus = [], []
    try:
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            out = engine.decide(DecisionRequest(universal_ids=ids))
            times.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            assert len(out) == batch
    finally:
        batched.stop()
    resident = _rss()
    store.stop()
    empty.stop()
    _emit(
        {
            "fit_s": fit_s,
            "fit_cpu_s": fit_cpu,
            "refresh_s": refresh_s,
            "refresh_cpu_s": refresh_cpu,
            "refresh_mode": "incremental" if callable(refresh) else "full fit",
            "refreshed": refitted if isinstance(refitted, int) else None,
            "extra_hour_events": len(hour),
            "batch_10k_s": statistics.median(times),
            "batch_10k_cpu_s": statistics.median(cpus),
            "batch_known": len(known),
            "engine_base_rss_bytes": base,
            "engine_rss_after_fit_bytes": after_fit,
            "engine_rss_after_refresh_bytes": after_refresh,
            "engine_resident_bytes": resident,
        }
    )


WORKERS = {
    "generate": worker_generate,
    "extra-hour": worker_extra_hour,
    "sink": worker_sink,
    "engine": worker_engine,
}


# --- the orchestrating process --------------------------------------------------------------
class Worker:
    """A worker process, its RSS sampled (and capped) from outside."""

    def __init__(self, name: str, spec: dict[str, Any], max_rss: int) -> None:
        cmd = [sys.executable, str(HERE), "--worker", name, "--spec", json.dumps(spec)]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.max_rss = max_rss
        self.peak = 0
        self.killed: str | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while self.proc.poll() is None:
            status = proc_memory(self.proc.pid)
            self.peak = max(self.peak, status.get("VmHWM", 0))
            if status.get("VmRSS", 0) > self.max_rss:
                self.killed = f"{self.name} killed at {status['VmRSS'] / 1e9:.1f} GB RSS"
                os.kill(self.proc.pid, signal.SIGKILL)
                return
            time.sleep(0.2)

    def result(self) -> dict[str, Any]:
        out, _ = self.proc.communicate()
        self._thread.join()
        found = [line[7:] for line in out.splitlines() if line.startswith("RESULT ")]
        if self.killed:
            return {"error": self.killed}
        if self.proc.returncode or not found:
            return {"error": f"{self.name} exited with {self.proc.returncode}"}
        answer: dict[str, Any] = json.loads(found[-1])
        answer["rss_peak_bytes"] = max(answer["rss_peak_bytes"], self.peak)
        return answer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(
    users: int, args: argparse.Namespace, root: Path, bootstrap: str | None
) -> dict[str, Any]:
    """Every figure of one size (its own home, topic and store)."""
    home = root / f"users-{users}"
    home.mkdir()
    spec: dict[str, Any] = {
        "home": str(home),
        "users": users,
        "seed": args.seed,
        "batch": args.batch,
        "extra": str(home / "extra_hour.arrow"),
    }
    cap = int(args.max_rss_gb * 1e9)
    row: dict[str, Any] = {"users": users, "load_path": args.load}
    if bootstrap:
        from sendflowr.kafka import ensure_topics

        spec.update(
            bootstrap=bootstrap,
            topic=f"scale_{users}_{uuid.uuid4().hex[:6]}",
            group=f"scale_{uuid.uuid4().hex[:8]}",
        )
        ensure_topics(bootstrap, [(spec["topic"], 3), (spec["topic"] + "-dlq", 1)])
        sink = Worker("sink", spec, cap)
    gen = Worker("generate", spec, cap).result()
    if "error" in gen:
        if bootstrap:
            sink.proc.kill()  # it would wait for a count that never comes
            sink.result()
        return row | gen
    row.update(
        events=gen["events"],
        generate_s=gen["generate_s"],
        generate_cpu_s=gen["generate_cpu_s"],
        generator_rss_bytes=gen["rss_peak_bytes"],
    )
    if bootstrap:
        sunk = sink.result()
        if "error" in sunk:
            return row | sunk
        row.update(
            load_s=sunk["done_at"] - gen["started_at"],
            stored=sunk["stored"],
            sink_peak_rss_bytes=sunk["rss_peak_bytes"],
            sink_rss_timeline=sunk["rss_timeline"],
        )
        _delete_topics(bootstrap, [spec["topic"], spec["topic"] + "-dlq"])
    else:
        row.update(
            load_s=gen["done_at"] - gen["started_at"],
            stored=gen["acknowledged"],
            sink_peak_rss_bytes=None,
        )
    if args.no_engine:  # the engine's keys are there, unmeasured
        row.update(dict.fromkeys(ENGINE_KEYS))
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        return row
    extra = Worker("extra-hour", spec, cap).result()
    if "error" in extra:
        return row | extra
    engine = Worker("engine", spec, cap).result()
    if "error" in engine:
        return row | engine
    row.update({k: v for k, v in engine.items() if k != "rss_peak_bytes"})
    row["engine_rss_bytes"] = engine["rss_peak_bytes"]
    base = engine["engine_base_rss_bytes"]
    # the model's memory: resident after fit and refresh (a 10,000 batch's working memory
    # is a fixed cost, not a recipient's; it shows in the peak)
    row["engine_bytes_per_recipient"] = (engine["engine_rss_after_refresh_bytes"] - base) / users
    row["engine_peak_bytes_per_recipient"] = (engine["rss_peak_bytes"] - base) / users
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return row


def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until every answer
    for future in admin.delete_topics(topics).values():
        future.result(30)


def _fmt(value: Any, spec: str = ",.1f", scale: float = 1.0) -> str:
    if value is None:
        return "—"
    return format(value / scale if scale != 1.0 else value, spec)


def report(rows: list[dict[str, Any]]) -> None:
    ok = [r for r in rows if r.get("fit_s") is not None]
    base = next((r for r in ok if r["users"] == BASE_SIZE), ok[0] if ok else None)
    refresh_label = (
        "refresh s" if all(r.get("refresh_mode") == "incremental" for r in ok) else FULL_FIT_LABEL
    )
    load_label = {"kafka": "load s (Kafka + sink)", "store": "load s (--sink store)"}
    print()
    cols = [
        "users",
        "events",
        "generate s",
        load_label[rows[0]["load_path"]],
        "full fit s",
        f"fit ms/user (× {base['users'] if base else '-':,})" if base else "fit ms/user",
        refresh_label,
        "batch 10k s",
        "engine base GB",
        "engine peak GB",
        "B/recipient after refresh (peak)",
        "sink peak GB",
        "generator peak GB",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        if "error" in r:
            print(
                f"| {r['users']:,} | {_fmt(r.get('events'), ',')} | "
                f"{_fmt(r.get('generate_s'))} | {_fmt(r.get('load_s'))} | {r['error']} |"
            )
            continue
        engine = ["—"] * 7  # generate and load only (--no-engine)
        if r.get("fit_s") is not None:
            per_user = r["fit_s"] / r["users"] * 1000
            ratio = per_user / (base["fit_s"] / base["users"] * 1000) if base else None
            r["fit_per_user_ratio"] = ratio
            engine = [
                f"{r['fit_s']:.1f} ({r['fit_cpu_s']:.1f} CPU)",
                f"{per_user:.2f} ({ratio:.2f}×)" if ratio is not None else f"{per_user:.2f}",
                f"{r['refresh_s']:.2f}"
                + (f" ({r['refreshed']:,} refitted)" if r.get("refreshed") is not None else ""),
                f"{r['batch_10k_s']:.2f} ({r['batch_10k_cpu_s']:.2f} CPU)",
                _fmt(r["engine_base_rss_bytes"], ".2f", 1e9),
                _fmt(r["engine_rss_bytes"], ".2f", 1e9),
                f"{r['engine_bytes_per_recipient']:,.0f} "
                f"({r['engine_peak_bytes_per_recipient']:,.0f})",
            ]
        cells = [
            f"{r['users']:,}",
            f"{r['events']:,}",
            f"{r['generate_s']:.1f} ({r['generate_cpu_s']:.1f} CPU)",
            _fmt(r["load_s"]),
            *engine,
            _fmt(r["sink_peak_rss_bytes"], ".2f", 1e9),
            _fmt(r.get("generator_rss_bytes"), ".2f", 1e9),
        ]
        print("| " + " | ".join(cells) + " |")
    sink_rows = [r["sink_peak_rss_bytes"] for r in rows if r.get("sink_peak_rss_bytes")]
    if not ok:
        if sink_rows:
            peak = max(sink_rows)
            verdict = "meets" if peak <= TARGETS["sink_peak_rss_bytes"] else "MISSES"
            print(f"\nsink peak RSS ≤ 2 GB (every size): {peak / 1e9:.2f} GB — {verdict}")
        return
    largest = max(ok, key=lambda r: r["users"])
    at = largest["users"]
    note = "" if at == TARGET_SIZE else f" — measured at {at:,} users, not {TARGET_SIZE:,}"
    print(f"\ntargets at {TARGET_SIZE:,} users{note}:")
    checks = [
        ("full fit ≤ 60 s", largest["fit_s"], TARGETS["fit_s"], "{:.1f} s"),
        (
            ("incremental" if largest["refresh_mode"] == "incremental" else FULL_FIT_LABEL)
            + " ≤ 5 s",
            largest["refresh_s"],
            TARGETS["refresh_s"],
            "{:.2f} s",
        ),
        ("batch of 10,000 ≤ 1 s", largest["batch_10k_s"], TARGETS["batch_10k_s"], "{:.2f} s"),
        (
            "engine resident ≤ 2 KB per recipient beyond its base (after fit + refresh)",
            largest["engine_bytes_per_recipient"],
            TARGETS["engine_bytes_per_recipient"],
            "{:,.0f} B",
        ),
        (
            "sink peak RSS ≤ 2 GB (every size)",
            max(sink_rows) if sink_rows else None,
            TARGETS["sink_peak_rss_bytes"],
            "{:.2f} B",
        ),
        (
            f"fit time per user flat from {base['users'] if base else '-':,} (≤ 1.10×)",
            largest.get("fit_per_user_ratio"),
            TARGETS["fit_per_user_ratio"],
            "{:.2f}×",
        ),
    ]
    for label, value, limit, shape in checks:
        if value is None:
            print(f"  {label}: not measured")
            continue
        shown = f"{value / 1e9:.2f} GB" if "GB" in label else shape.format(value)
        print(f"  {label}: {shown} — {'meets' if value <= limit else 'MISSES'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="350,3500,35000,100000", help="Comma-separated sizes.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--load", choices=("kafka", "store"), default="kafka")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument(
        "--max-rss-gb",
        type=float,
        default=12.0,
        help="Kill a worker whose RSS passes this (shared machine).",
    )
    parser.add_argument("--json", type=Path, help="Write one object per size to FILE.")
    parser.add_argument("--keep", action="store_true", help="Keep each size's data folder.")
    parser.add_argument(
        "--no-engine",
        action="store_true",
        help="Generate and load only (generator and sink figures; no fit, refresh, batch).",
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        WORKERS[args.worker](json.loads(args.spec))
        return
    sizes = [int(s.replace("_", "")) for s in args.users.split(",") if s.strip()]
    root = Path(tempfile.mkdtemp(prefix="sendflowr-bench-scale-"))
    broker = None
    rows: list[dict[str, Any]] = []
    try:
        bootstrap = None
        if args.load == "kafka":
            from sendflowr.kafka import LocalKafka
            from sendflowr.settings import Settings

            kafka_home = root / "kafka"
            settings = Settings(
                home=kafka_home, kafka_port=_free_port(), kafka_controller_port=_free_port()
            )
            broker = LocalKafka(settings)
            broker.start()
            bootstrap = broker.bootstrap
        for users in sizes:
            print(f"--- {users:,} users ({args.load})", file=sys.stderr, flush=True)
            began = time.perf_counter()
            row = measure(users, args, root, bootstrap)
            row["total_s"] = time.perf_counter() - began
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        if broker is not None:
            broker.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
