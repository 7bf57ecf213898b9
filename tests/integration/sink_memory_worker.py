"""A sink in a process of its own whose memory the parent reads (the memory test's subject).

``python -m tests.integration.sink_memory_worker SPEC_JSON``: starts a store in the
spec's home and a ``SinkConsumer`` on its topic, prints ``ready``, then for each line
``N`` read from stdin waits until the sink has handled N records and answers, for the
lowest RSS seen over the next 3 s, ``rss <VmRSS> <RssAnon> <RssFile> <ClickHouse tracked>
<Python's allocated blocks> <handled>`` (bytes; blocks counted after a full collection).
``trace`` in the spec turns tracemalloc on and adds the Python heap's top allocation sites
on stderr.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.store import ClickHouseStore


def vm_rss(field: str = "VmRSS") -> int:
    """This process's resident memory in bytes (``RssAnon``: its anonymous part, without
    the pages of mapped files such as the engine's library)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    if spec.get("trace"):
        tracemalloc.start(8)
    settings = Settings(
        home=Path(spec["home"]),
        kafka_bootstrap_servers=spec["bootstrap"],
        topic=spec["topic"],
        dlq_topic=spec["topic"] + "-dlq",
        consumer_group=spec["group"],
        clickhouse_database=spec.get("database", "sendflowr"),
        sink_recent_ids=int(spec.get("recent_ids", 1_000_000)),
    )
    store = ClickHouseStore(settings)
    store.start()
    sink = SinkConsumer(settings, store)
    sink.start()
    print("ready", flush=True)
    tracked = "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'"
    for line in sys.stdin:
        target = int(line)
        while True:
            stats = sink.stats
            handled = stats.stored + stats.duplicates + stats.dead_letters
            if handled >= target:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # let the writer's last round settle
        # The floor over 3 s: a merge or fetch in progress is not what the sink keeps.
        samples = []
        for _ in range(30):
            samples.append((vm_rss(), vm_rss("RssAnon"), vm_rss("RssFile")))
            time.sleep(0.1)
        resident, anon, files = min(samples)
        gc.collect()
        blocks = sys.getallocatedblocks()
        if spec.get("trace"):
            top = tracemalloc.take_snapshot().statistics("lineno")[:12]
            for stat in top:
                print(f"  {stat}", file=sys.stderr, flush=True)
        print(
            f"rss {resident} {anon} {files} {int(store.query(tracked).scalar() or 0)} "
            f"{blocks} {handled}",
            flush=True,
        )
    sink.stop()
    store.stop()


if __name__ == "__main__":
    main()
