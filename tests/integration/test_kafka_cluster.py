"""A local three-node KRaft cluster: replication, and exactly-once rows through a leader kill.

One cluster (``sendflowr kafka start --brokers 3``'s ``LocalKafka``) in its own
home serves the module. The load test pushes 50,000 events through the in-process
connector (acks=all, idempotent producer) while an in-process sink writes them
to chDB; the leader of partition 0 is SIGKILLed mid-load and restarted. Every
event the connector acknowledged must be stored exactly once.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from sendflowr.cli import main
from sendflowr.connector import create_app
from sendflowr.errors import ServiceError
from sendflowr.generator import sample_events
from sendflowr.kafka import LocalKafka, ensure_topics, partition_replicas, topic_offsets
from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.store import ClickHouseStore
from tests.conftest import free_port, unique_name
from tests.integration.sink_support import lag, wait_for

pytestmark = pytest.mark.slow

EVENTS = 50_000
BATCH = 500


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux; 32768 when unknown)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _port_block() -> tuple[int, int]:
    """A client and controller port whose three-node blocks (+0, +2, +4; +1, +3, +5) are free.

    Chosen below the kernel's ephemeral range: a port from inside it can be taken as the
    source port of any outgoing connection (the suite's clients make many) between this
    check and the node's bind.
    """
    low = _ephemeral_low()
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(max(1024, low - 12_000), low - 6) if low > 2_048 else free_port()
        if base + 5 > 65535:
            continue
        ports = range(base, base + 6)
        free = True
        for port in ports:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return base, base + 1
    raise RuntimeError("no block of six free ports")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A started three-node local cluster in a home of its own."""
    port, controller = _port_block()
    settings = Settings(
        home=tmp_path_factory.mktemp("kafka-cluster"),
        kafka_port=port,
        kafka_controller_port=controller,
        kafka_heap="512m",
    )
    broker = LocalKafka(settings, brokers=3)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _topic_config(bootstrap: str, topic: str, key: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
    return str(future.result()[key].value)


def test_three_nodes_replicate_every_topic_three_times(cluster: LocalKafka) -> None:
    state = cluster.status()
    assert [n.node_id for n in state.nodes] == [1, 2, 3] and all(n.running for n in state.nodes)
    assert len({n.pid for n in state.nodes}) == 3
    assert len(state.bootstrap.split(",")) == 3
    for topic in ("email-events", "email-events-dlq"):
        parts = partition_replicas(cluster.bootstrap, topic)
        assert parts and all(len(p.replicas) == 3 and len(p.isrs) == 3 for p in parts)
        assert _topic_config(cluster.bootstrap, topic, "min.insync.replicas") == "2"
    assert len({p.leader for p in partition_replicas(cluster.bootstrap, "email-events")}) == 3

    # The group coordinator's topic exists once a group commits; it has three copies too.
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "probe"})
    try:
        consumer.commit(offsets=[TopicPartition("email-events", 0, 0)], asynchronous=False)
    finally:
        consumer.close()
    offsets_topic = partition_replicas(cluster.bootstrap, "__consumer_offsets")
    assert offsets_topic and all(len(p.replicas) == 3 for p in offsets_topic)

    # A single broker of the same home would take node 1's ports: refused, nothing started.
    single = LocalKafka(Settings(home=cluster.dir.parent, kafka_port=1, kafka_controller_port=2))
    with pytest.raises(ServiceError, match="stop it first"):
        LocalKafka(
            Settings(
                home=cluster.dir.parent,
                kafka_port=cluster.nodes[0].port,
                kafka_controller_port=cluster.nodes[0].controller_port,
            ),
            brokers=1,
        ).start()
    # Without --brokers, the home's running cluster is what start/stop/status act on.
    assert single.brokers == 3
    env = {
        "SENDFLOWR_HOME": str(cluster.dir.parent),
        "SENDFLOWR_KAFKA_PORT": str(cluster.nodes[0].port),
        "SENDFLOWR_KAFKA_CONTROLLER_PORT": str(cluster.nodes[0].controller_port),
        "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
    }
    shown = CliRunner().invoke(main, ["kafka", "status"], env=env, terminal_width=200)
    assert shown.exit_code == 0, shown.output
    for node in cluster.nodes:
        assert f"node {node.node_id}: running" in shown.output
    assert "email-events[2]" in shown.output and "isr [" in shown.output


async def _load(
    settings: Settings, cluster: LocalKafka, topic: str
) -> tuple[set[str], list[int], dict[str, Any]]:
    """Send every batch until acknowledged; kill partition 0's leader after 20 batches and
    restart it 15 batches later. Returns acknowledged ids, statuses and what happened."""
    events = sample_events(EVENTS, seed=18)
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    app = create_app(settings)
    acked: set[str] = set()
    statuses: list[int] = []
    story: dict[str, Any] = {}
    done = 0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://c", timeout=60) as c:

            async def send(batch: list[Any]) -> None:
                nonlocal done
                body = msgspec.json.encode(batch)
                while True:
                    sent_at = time.monotonic()
                    response = await c.post(
                        "/api/events", content=body, headers={"content-type": "application/json"}
                    )
                    took = time.monotonic() - sent_at
                    story["slowest_s"] = max(story.get("slowest_s", 0.0), took)
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        assert response.json()["accepted"] == len(batch)
                        acked.update(e.event_id for e in batch)
                        done += 1
                        return
                    assert response.status_code == 503, response.text
                    await asyncio.sleep(0.5)

            killer: asyncio.Task[None] | None = None
            restarter: asyncio.Task[None] | None = None
            for i in range(0, len(batches), 4):
                await asyncio.gather(*(send(b) for b in batches[i : i + 4]))
                await asyncio.sleep(0.15)  # spread the load over the kill and the restart
                if killer is None and done >= 20:
                    (p0,) = [
                        p for p in partition_replicas(cluster.bootstrap, topic) if p.partition == 0
                    ]
                    story.update(killed=p0.leader, killed_at_batch=done, t_kill=time.monotonic())
                    killer = asyncio.create_task(asyncio.to_thread(cluster.kill, p0.leader))
                if (
                    restarter is None
                    and killer is not None
                    and done >= story["killed_at_batch"] + 15
                ):
                    await killer
                    alive = [n for n in cluster.nodes if n.node_id != story["killed"]]
                    (p0,) = [
                        p
                        for p in partition_replicas(",".join(n.address for n in alive), topic)
                        if p.partition == 0
                    ]
                    story.update(leader_after_kill=p0.leader, isr_after_kill=p0.isrs)
                    story["restart_at_batch"] = done
                    restarter = asyncio.create_task(asyncio.to_thread(cluster.start))
            assert killer is not None and restarter is not None, "the load ended before the kill"
            await restarter
            story["load_s"] = time.monotonic() - story["t_kill"]
    return acked, statuses, story


def test_acknowledged_events_are_stored_exactly_once_when_a_partition_leader_dies(
    cluster: LocalKafka, store: ClickHouseStore, session_home: Path
) -> None:
    topic = unique_name("events")
    ensure_topics(cluster.bootstrap, [(topic, 3), (f"{topic}-dlq", 1)])
    settings = Settings(
        home=session_home,
        kafka_bootstrap_servers=cluster.bootstrap,
        topic=topic,
        dlq_topic=f"{topic}-dlq",
        consumer_group=unique_name("group"),
        clickhouse_database=store.database,
        sink_batch_size=2_000,
        sink_max_wait_ms=200,
    )
    sink = SinkConsumer(settings, store)
    sink.start()
    try:
        began = time.monotonic()
        acked, statuses, story = asyncio.run(_load(settings, cluster, topic))
        assert story["leader_after_kill"] != story["killed"]
        assert story["killed"] not in story["isr_after_kill"]
        assert len(acked) == EVENTS  # every batch got through, some perhaps after a 503
        wait_for(lambda: lag(settings) == 0, 120, "the sink to commit every record")
        elapsed = time.monotonic() - began
    finally:
        sink.stop()
    total, unique = (
        int(v)
        for v in store.query(
            f"SELECT count(), uniqExact(event_id) FROM {store.events_table}"  # noqa: S608
        ).rows[0]
    )
    assert total == unique == len(acked) == EVENTS
    missing = store.query(
        f"SELECT count() FROM {store.events_table} WHERE event_id IN {{ids:Array(UUID)}}",  # noqa: S608
        {"ids": sorted(acked)},
    ).scalar()
    assert missing == EVENTS
    in_topic = sum(p.high for p in topic_offsets(cluster.bootstrap, topic))
    if 503 not in statuses:  # the idempotent producer's own retries add no copies
        assert in_topic == EVENTS
    # The restarted node caught up: every replica of every partition is in sync again.
    wait_for(
        lambda: all(len(p.isrs) == 3 for p in partition_replicas(cluster.bootstrap, topic)),
        60,
        "the restarted node to rejoin the ISR",
    )
    print(  # the figures the README quotes
        f"\nleader kill: node {story['killed']} killed after {story['killed_at_batch']} batches, "
        f"partition 0 led by {story['leader_after_kill']}, restarted after "
        f"{story['restart_at_batch']}; statuses {sorted(set(statuses))} "
        f"({statuses.count(503)} x 503); slowest request {story['slowest_s']:.1f}s; "
        f"{in_topic} records in the topic for {EVENTS} events; "
        f"stored {total} = uniq {unique}; {elapsed:.1f}s"
    )


def test_a_node_that_cannot_start_takes_the_started_ones_down(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    port, controller = _port_block()
    settings = Settings(home=tmp_path_factory.mktemp("kafka-broken"), kafka_port=port,
                        kafka_controller_port=controller, kafka_heap="256m")  # fmt: skip
    broker = LocalKafka(settings, brokers=3)
    with socket.socket() as taken:  # node 3's controller port is someone else's
        taken.bind(("127.0.0.1", controller + 4))
        taken.listen()
        with pytest.raises(ServiceError, match=f"port {controller + 4} .* is taken"):
            broker.start()
    pids = [p for node in broker.nodes if (p := broker._pid(node)) is not None]
    assert pids == []  # nodes 1 and 2 had started: they were stopped, not left running
