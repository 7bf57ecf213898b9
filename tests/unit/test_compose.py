"""docker-compose.yml stays valid and keeps the seed's container names (no engine runs here)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_names_the_seed_containers_and_every_role() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    names = {s.get("container_name") for s in services.values()}
    assert {"sendflowr-kafka", "sendflowr-clickhouse"} <= names
    commands = [" ".join(s.get("command", [])) for s in services.values()]
    for role in ("connector", "consumer", "inference"):
        assert any(f"--role {role}" in c for c in commands), role
    for service in services.values():
        for dep in service.get("depends_on", {}):
            assert dep in services
        build = service.get("build")
        if isinstance(build, dict):
            assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).exists()
        elif build:
            assert (ROOT / build / "Dockerfile").exists()
