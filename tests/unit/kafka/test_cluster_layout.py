"""Local broker and cluster layout: ports, folders, replication and node configs (no JVM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sendflowr.errors import ConfigError
from sendflowr.kafka.broker import LocalKafka
from sendflowr.kafka.layout import cluster_nodes, replication, server_properties
from sendflowr.settings import Settings


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_one_node_keeps_the_single_broker_layout_and_ports(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_port=9092, kafka_controller_port=9093)
    (node,) = cluster_nodes(settings, 1)
    assert (node.node_id, node.port, node.controller_port) == (1, 9092, 9093)
    assert node.pid_path == (tmp_path / "kafka" / "broker.pid").resolve()
    assert node.log_path == (tmp_path / "kafka" / "broker.log").resolve()
    broker = LocalKafka(settings)
    assert broker.brokers == 1 and broker.bootstrap == "127.0.0.1:9092"
    props = _props(server_properties(settings, node, (node,)))
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert "broker.session.timeout.ms" not in props


def test_three_nodes_take_every_other_port_and_a_folder_each(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_port=19892, kafka_controller_port=19893)
    nodes = cluster_nodes(settings, 3)
    assert [(n.node_id, n.port, n.controller_port) for n in nodes] == [
        (1, 19892, 19893),
        (2, 19894, 19895),
        (3, 19896, 19897),
    ]
    assert len({n.dir for n in nodes}) == 3
    assert all(n.dir.parent == (tmp_path / "kafka" / "cluster").resolve() for n in nodes)
    broker = LocalKafka(settings, brokers=3)
    assert broker.bootstrap == "127.0.0.1:19892,127.0.0.1:19894,127.0.0.1:19896"
    props = _props(server_properties(settings, nodes[1], nodes))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19893,2@127.0.0.1:19895,3@127.0.0.1:19897"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19894,CONTROLLER://127.0.0.1:19895"
    assert props["log.dirs"] == str(nodes[1].data)
    for key in ("default", "offsets.topic", "transaction.state.log"):
        assert props[f"{key}.replication.factor"] == "3"
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_replication_is_three_copies_two_in_sync_at_most(
    brokers: int, expected: tuple[int, int]
) -> None:
    assert replication(brokers) == expected


def test_overlapping_ports_are_refused_naming_the_setting(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_port=9092, kafka_controller_port=9094)
    cluster_nodes(settings, 1)  # one node: no overlap possible
    with pytest.raises(ConfigError, match="SENDFLOWR_KAFKA_CONTROLLER_PORT"):
        cluster_nodes(settings, 3)
    with pytest.raises(ConfigError, match="--brokers"):
        cluster_nodes(settings, 0)


def test_without_a_running_cluster_the_home_means_the_single_broker(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    cluster = tmp_path / "kafka" / "cluster"
    cluster.mkdir(parents=True)
    (cluster / "size").write_text("3")  # formatted once, but no node runs
    assert LocalKafka(settings).brokers == 1
    assert LocalKafka(settings, brokers=3).brokers == 3
    assert not LocalKafka(settings, brokers=3).status().running
