"""Connector throughput: accepted-and-acknowledged events/s, batched vs single-event requests.

Starts its own Kafka broker (``LocalKafka`` on free ports in a temporary
SENDFLOWR_HOME) and one connector process (``sendflowr serve --role connector``),
then posts pre-encoded bodies with one reused aiohttp session:

1. batches of ``--batch-size`` events (default 1,000) to ``POST /api/events``;
2. single-event requests (a one-element array) to the same endpoint;

and prints events/s of each, their ratio, and checks that the topic holds every
acknowledged event. Run: ``python bench/connector.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).parent))
from _figures import add_json_option, write_json
from sendflowr.events import IncomingEvent
from sendflowr.kafka import LocalKafka, topic_offsets
from sendflowr.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_events(n: int, users: int, offset: int) -> list[IncomingEvent]:
    base = datetime(2025, 10, 1, tzinfo=UTC)
    kinds = ("sent", "delivered", "opened", "clicked")
    return [
        IncomingEvent(
            event_type=kinds[i % 4],
            timestamp=base + timedelta(seconds=i),
            recipient_email=f"bench.user{(offset + i) % users}@example.com",
            recipient_id=f"u{(offset + i) % users}",
            esp="klaviyo",
            campaign_id="newsletter",
            message_id=f"m{offset + i}",
            metadata={"persona": "commuter", "channel": "email"},
        )
        for i in range(n)
    ]


async def post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[int, float]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                body = queue.get_nowait()
                async with session.post(url, data=body, headers=headers) as resp:
                    payload = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}: {payload[:200]!r}")
                    accepted += msgspec.json.decode(payload)["accepted"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return accepted, elapsed


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("connector exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("connector did not become healthy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--single-concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=20_000)
    add_json_option(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sendflowr-bench-") as tmp:
        home = Path(tmp)
        settings = Settings(home=home, kafka_port=free_port(), kafka_controller_port=free_port())
        broker = LocalKafka(settings)
        print("starting Kafka …", flush=True)
        broker.start()
        port = free_port()
        env = {
            **os.environ,
            "SENDFLOWR_HOME": str(home),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "SENDFLOWR_CONNECTOR_PORT": str(port),
        }
        env.pop("SENDFLOWR_API_KEY", None)
        env.pop("SENDFLOWR_IDENTITY_URL", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "sendflowr", "serve", "--role", "connector"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/health", proc)
            url = f"http://127.0.0.1:{port}/api/events"
            enc = msgspec.json.Encoder()
            # Warm-up: first sight of every bench identity (store writes), not timed.
            warm = make_events(args.users, args.users, 0)
            warm_bodies = [enc.encode(warm[i : i + 1000]) for i in range(0, len(warm), 1000)]
            asyncio.run(post_all(url, warm_bodies, 2))
            bodies = [
                enc.encode(make_events(args.batch_size, args.users, b * args.batch_size))
                for b in range(args.batches)
            ]
            singles = [enc.encode(make_events(1, args.users, i)) for i in range(args.singles)]
            batch_n, batch_s = asyncio.run(post_all(url, bodies, args.concurrency))
            single_n, single_s = asyncio.run(post_all(url, singles, args.single_concurrency))
            batch_rate, single_rate = batch_n / batch_s, single_n / single_s
            stored = sum(p.high for p in topic_offsets(broker.bootstrap, settings.topic))
            expected = args.users + batch_n + single_n
            print(
                f"batched ({args.batch_size}/request, {args.concurrency} in flight): "
                f"{batch_n} events in {batch_s:.2f} s = {batch_rate:,.0f} events/s"
            )
            print(
                f"single-event ({args.single_concurrency} in flight): "
                f"{single_n} events in {single_s:.2f} s = {single_rate:,.0f} events/s"
            )
            print(f"ratio batched/single: {batch_rate / single_rate:.1f}x")
            print(f"records in topic: {stored} (acknowledged: {expected})")
            write_json(args.json, "connector", {
                "batched": {"events": batch_n, "seconds": round(batch_s, 3),
                            "events_per_s": round(batch_rate), "batch_size": args.batch_size,
                            "concurrency": args.concurrency},
                "single": {"events": single_n, "seconds": round(single_s, 3),
                           "events_per_s": round(single_rate),
                           "concurrency": args.single_concurrency},
                "batched_over_single": round(batch_rate / single_rate, 2),
                "records_in_topic": stored, "acknowledged": expected,
            })  # fmt: skip
            if stored < expected:
                raise SystemExit("FAIL: Kafka holds fewer records than were acknowledged")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            broker.stop()


if __name__ == "__main__":
    main()
