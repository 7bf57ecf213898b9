"""Evidence from the aggregates vs the raw join: read time, read memory, insert cost.

For each ``--users`` size (default 3,500 and 35,000) the full shipped history (seed
``--seed``) is generated into two temporary homes with the generator's ``--sink
store`` path (Arrow inserts into chDB): one with the materialized views (as shipped),
one with them dropped before the load. Then, each in a process of its own:

- **load s**: seconds the generator spent in its inserts (the rest is simulation),
  with and without the views; **insert ratio** = with / without (what the views add);
- **read s**: the engine's data path, ``utc_evidence`` + ``engaged`` +
  ``stored_zones`` (everything it reads from ClickHouse, UTC, before zone inference),
  through ``RawStoreSource`` (the raw join: the path before the aggregates) and
  ``StoreSource`` (the aggregates), on the home with views;
- **evidence s**: the whole ``evidence(now)`` the engine calls (the read, zone
  inference and the local clocks; inference costs the same on both paths);
- **read RSS**: the reading process's high-water mark after the read, and how much it
  grew over the process's RSS before it (chDB included: it runs in the process);
- **changed_since s** (aggregates): ``changed_since(0)`` (every recipient), and
  **subset s**: ``evidence(now, ids)`` for 1,000 recipients (what a refresh reads);
- **same**: whether both paths returned the same evidence (a digest of the sorted rows,
  activity and engaged minutes, and the stored zones).

A memory guard kills a worker whose RSS passes ``--max-rss-gb`` (shared machine).

    flock /tmp/sendflowr-bench.lock nice python bench/store_aggregates.py \\
        --users 3500,35000 [--seed 42] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _memory import proc_memory

HERE = Path(__file__).resolve()
SUBSET = 1_000


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _store(home: str) -> Any:
    from sendflowr.settings import Settings
    from sendflowr.store import ClickHouseStore

    store = ClickHouseStore(Settings(home=Path(home), clickhouse_database="sendflowr"))
    store.start()
    return store


# --- workers (each in its own process) ------------------------------------------------
def worker_load(spec: dict[str, Any]) -> dict[str, Any]:
    """The full history into a fresh home, with or without the views."""
    from sendflowr.generator import model_for
    from sendflowr.generator.outputs.store import StoreOutput
    from sendflowr.generator.run import Plan, run
    from sendflowr.store.schema import VIEWS

    store = _store(spec["home"])
    if not spec["views"]:
        for view in VIEWS:
            store.command(f"DROP VIEW IF EXISTS `sendflowr`.`{view.name}`")
    model = model_for(None)
    history = model.world.history
    plan = Plan(model, int(spec["seed"]), history.start, history.end, users=int(spec["users"]))
    output = StoreOutput(model, store)  # the store is started: open() keeps it as it is
    seconds = 0.0
    write = output.write

    def timed(block: Any) -> None:
        nonlocal seconds
        started = time.perf_counter()
        write(block)
        seconds += time.perf_counter() - started

    output.write = timed  # type: ignore[method-assign]
    wall = time.perf_counter()
    result = run(plan, output)
    wall = time.perf_counter() - wall
    views = int(
        store.query(
            "SELECT count() FROM system.tables WHERE database = 'sendflowr' "
            "AND engine = 'MaterializedView'"
        ).scalar()
    )
    store.stop()
    return {"events": result.total, "insert_s": seconds, "wall_s": wall, "views": views}


def _digest(evidence: Any, engaged: Any, zones: dict[str, str]) -> str:
    import numpy as np

    rows = np.lexsort(
        (evidence.opened, evidence.clicked, evidence.delivered_minute, evidence.user_index)
    )
    acts = np.lexsort((evidence.activity_minute, evidence.activity_index))
    eng = np.lexsort((engaged[1], engaged[0]))
    h = hashlib.sha256()
    h.update("\n".join(evidence.universal_ids).encode())
    for array in (
        evidence.user_index[rows],
        evidence.delivered_minute[rows],
        evidence.clicked[rows],
        evidence.opened[rows],
        evidence.activity_index[acts],
        evidence.activity_minute[acts],
        np.asarray(engaged[0])[eng],
        np.asarray(engaged[1])[eng],
    ):
        h.update(np.ascontiguousarray(array).astype(np.int64).tobytes())
    h.update(json.dumps(sorted(zones.items())).encode())
    return h.hexdigest()[:16]


def _warm_arrow() -> None:
    """Call the Arrow kernels the aggregates' read uses once (their first call loads code)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pa.array(["a", "b"])
    pc.index_in(pa.chunked_array([keys]), value_set=pc.dictionary_encode(keys).dictionary)


def worker_read(spec: dict[str, Any]) -> dict[str, Any]:
    """One path's evidence read, timed, with the process's memory around it."""
    from sendflowr.timing.grid import epoch_minute
    from sendflowr.timing.raw_source import RawStoreSource
    from sendflowr.timing.sources import StoreSource

    store = _store(spec["home"])
    newest = store.query(f"SELECT max(timestamp) FROM {store.events_table}").scalar()  # noqa: S608
    now = epoch_minute(newest)
    source = RawStoreSource(store) if spec["path"] == "raw" else StoreSource(store)
    store.query("SELECT 1")  # warm both result paths: the first call of each loads code
    store.query_arrow("SELECT 1")
    _warm_arrow()
    before = proc_memory()["VmRSS"]
    started = time.perf_counter()
    evidence = source.utc_evidence(now)
    engaged = source.engaged(evidence, now)
    zones = source.stored_zones(now)
    read_s = time.perf_counter() - started
    peak = _peak()
    digest = _digest(evidence, engaged, zones)
    out: dict[str, Any] = {
        "read_s": read_s,
        "read_peak_rss_bytes": peak,
        "read_growth_bytes": peak - before,
        "rss_before_bytes": before,
        "users": len(evidence.universal_ids),
        "deliveries": int(evidence.size),
        "digest": digest,
    }
    del evidence, engaged, zones
    started = time.perf_counter()
    full = source.evidence(now)
    out["evidence_s"] = time.perf_counter() - started
    if spec["path"] == "aggregates":
        started = time.perf_counter()
        changed, _ = source.changed_since(0)
        out["changed_since_s"] = time.perf_counter() - started
        out["changed"] = len(changed)
        ids = full.universal_ids[:: max(1, len(full.universal_ids) // SUBSET)][:SUBSET]
        started = time.perf_counter()
        source.evidence(now, ids)
        out["subset_s"] = time.perf_counter() - started
        out.update(_messages_query(store, now))
    store.stop()
    return out


#: the messages read as first built: GROUP BY the table's key instead of FINAL
_GROUP_BY = """
SELECT universal_id, d, c <= {now:Int32} AS clicked, o <= {now:Int32} AS opened, least(c, o) AS e
FROM (
    SELECT universal_id, message_id, min(delivered_minute) AS d, min(clicked_minute) AS c,
           min(opened_minute) AS o
    FROM `sendflowr`.`message_outcomes`
    GROUP BY universal_id, message_id
)
WHERE d <= {now:Int32} OR least(c, o) <= {now:Int32}
ORDER BY universal_id, d
"""


def _messages_query(store: Any, now: int) -> dict[str, float]:
    """The messages query alone, as read (FINAL) and with GROUP BY the key (a design probe),
    each the median of 3."""
    import statistics

    from sendflowr.timing import aggregates

    final = aggregates._sql(aggregates._MESSAGES, store, aggregates.MESSAGES_TABLE, None)
    out = {}
    for key, sql in (("final", final), ("group_by", _GROUP_BY)):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            store.query_arrow(sql, {"now": now})
            times.append(time.perf_counter() - started)
        out[f"messages_query_{key}_s"] = statistics.median(times)
    return out


WORKERS = {"load": worker_load, "read": worker_read}


# --- the orchestrating process ----------------------------------------------------------
def _run(name: str, spec: dict[str, Any], max_rss: int) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--worker", name, "--spec", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    killed: list[str] = []

    def watch() -> None:
        while proc.poll() is None:
            rss = proc_memory(proc.pid).get("VmRSS", 0)
            if rss > max_rss:
                killed.append(f"{name} killed at {rss / 1e9:.1f} GB RSS")
                os.kill(proc.pid, signal.SIGKILL)
                return
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    out, _ = proc.communicate()
    thread.join()
    found = [line[7:] for line in out.splitlines() if line.startswith("RESULT ")]
    if killed:
        return {"error": killed[0]}
    if proc.returncode or not found:
        return {"error": f"{name} exited with {proc.returncode}"}
    answer: dict[str, Any] = json.loads(found[-1])
    return answer


def measure(users: int, seed: int, max_rss: int) -> dict[str, Any]:
    row: dict[str, Any] = {"users": users}
    with tempfile.TemporaryDirectory(prefix="sf-storeagg-") as tmp:
        with_views, without = str(Path(tmp, "views")), str(Path(tmp, "plain"))
        for key, home, views in (("plain", without, False), ("views", with_views, True)):
            print(
                f"  {users:,} users: loading ({'with' if views else 'without'} views)…",
                file=sys.stderr,
                flush=True,
            )
            row[f"load_{key}"] = _run(
                "load", {"home": home, "users": users, "seed": seed, "views": views}, max_rss
            )
            if key == "plain":
                shutil.rmtree(without, ignore_errors=True)
        row["events"] = row["load_views"].get("events")
        plain_s, views_s = row["load_plain"].get("insert_s"), row["load_views"].get("insert_s")
        if plain_s and views_s:
            row["insert_ratio"] = views_s / plain_s
        for path in ("raw", "aggregates"):
            print(f"  {users:,} users: reading ({path})…", file=sys.stderr, flush=True)
            row[path] = _run("read", {"home": with_views, "path": path}, max_rss)
    raw, agg = row["raw"], row["aggregates"]
    if "digest" in raw and "digest" in agg:
        row["same"] = raw["digest"] == agg["digest"]
    return row


def _f(value: Any, spec: str = ".2f", scale: float = 1.0) -> str:
    return "—" if value is None else format(value / scale, spec)


def report(rows: list[dict[str, Any]]) -> None:
    print(
        "| users | events | path | read s | evidence s | read peak RSS GB | read growth GB |"
        " insert s | same |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        for path, load in (("raw", "load_plain"), ("aggregates", "load_views")):
            p = r[path]
            print(
                f"| {r['users']:,} | {_f(r.get('events'), ',.0f')} | {path} | "
                f"{p.get('error') or _f(p.get('read_s'))} | {_f(p.get('evidence_s'))} | "
                f"{_f(p.get('read_peak_rss_bytes'), '.2f', 1e9)} | "
                f"{_f(p.get('read_growth_bytes'), '.2f', 1e9)} | "
                f"{_f(r[load].get('insert_s'), '.1f')} | {r.get('same', '—')} |"
            )
    print()
    for r in rows:
        agg = r["aggregates"]
        print(
            f"{r['users']:,} users: insert with views / without = {_f(r.get('insert_ratio'))}×; "
            f"read raw / aggregates = "
            f"{_f((r['raw'].get('read_s') or 0) / max(agg.get('read_s') or 1e-9, 1e-9))}×; "
            f"changed_since(0) {_f(agg.get('changed_since_s'), '.3f')} s "
            f"({agg.get('changed', '—')} recipients); "
            f"evidence of {SUBSET:,} recipients {_f(agg.get('subset_s'), '.3f')} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="3500,35000", help="comma-separated sizes")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-rss-gb", type=float, default=10.0, help="kill a worker above it")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](json.loads(args.spec))
        print("RESULT " + json.dumps(result), flush=True)
        return
    rows = []
    for users in (int(u) for u in args.users.split(",")):
        rows.append(measure(users, args.seed, int(args.max_rss_gb * 1e9)))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
    report(rows)


if __name__ == "__main__":
    main()
