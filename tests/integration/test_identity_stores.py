"""Identity stores under concurrency: SQLite file and PostgreSQL (SENDFLOWR_TEST_POSTGRES_URL).

Two processes × 16 threads, each thread resolving the same 300 new key sets in
its own order and batch size, must end with one identity per email, equal to
``universal_id_for`` of it, and the rules (links only add, audit) must hold on
PostgreSQL as on SQLite.
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sendflowr.identity import (
    IdentityResolver,
    IdentityStore,
    hash_email,
    keys_from,
    universal_id_for,
)
from sendflowr.identity.postgres import PostgresIdentityStore
from sendflowr.identity.sqlite import SqliteIdentityStore
from tests.integration.connector_support import postgres_schema

EMAILS = [f"concurrent.{i}@example.com" for i in range(300)]


def make_store(target: str) -> IdentityStore:
    if target.startswith("postgresql://"):
        return PostgresIdentityStore(target)
    return SqliteIdentityStore(Path(target))


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "identity.sqlite3")
        return
    with postgres_schema() as url:
        yield url


def _worker(target: str, seed: int) -> list[tuple[str, str]]:
    def thread(t: int) -> list[tuple[str, str]]:
        # One store (connection) per thread: as many writers as possible.
        resolver = IdentityResolver(make_store(target))
        resolver.start()
        try:
            rng = random.Random(seed * 100 + t)
            order = EMAILS[:]
            rng.shuffle(order)
            size = rng.choice([1, 7, 50, 300])
            out: list[tuple[str, str]] = []
            for start in range(0, len(order), size):
                chunk = order[start : start + size]
                sets = [keys_from(email=e, recipient_id=f"r-{e}") for e in chunk]
                results = resolver.resolve_many(sets)
                out.extend(
                    (hash_email(e), r.universal_id) for e, r in zip(chunk, results, strict=True)
                )
            return out
        finally:
            resolver.stop()

    with ThreadPoolExecutor(16) as pool:
        return [pair for part in pool.map(thread, range(16)) for pair in part]


def test_two_processes_sixteen_threads_one_id_per_email(target: str) -> None:
    # The stores' schema is created once before the race (start() is idempotent).
    first = make_store(target)
    first.start()
    first.stop()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_worker, [(target, 1), (target, 2)])
    ids: dict[str, set[str]] = {}
    for pairs in results:
        for email_hash, uid in pairs:
            ids.setdefault(email_hash, set()).add(uid)
    assert ids == {hash_email(e): {universal_id_for("email", hash_email(e))} for e in EMAILS}


def test_rules_hold_on_each_store(target: str) -> None:
    resolver = IdentityResolver(make_store(target))
    resolver.start()
    try:
        a = resolver.resolve(keys_from(email="a@example.com", klaviyo_id="K1"))
        assert a.created and a.universal_id == universal_id_for(
            "email", hash_email("a@example.com")
        )
        via = resolver.resolve(keys_from(klaviyo_id="K1", phone="+14155552671"))
        assert (via.universal_id, via.confidence) == (a.universal_id, 0.95)
        b = resolver.resolve(keys_from(email="b@example.com", cookie="ck"))
        joined = resolver.resolve(keys_from(email="a@example.com", cookie="ck"))
        assert joined.universal_id == a.universal_id
        assert (
            resolver.lookup(list(keys_from(cookie="ck")))[keys_from(cookie="ck")[0]].universal_id
            == b.universal_id
        )
        assert len(resolver.audit(a.universal_id)) == 3
        linked = resolver.link(b.universal_id, keys_from(device_id="dev"))
        assert linked.universal_id == b.universal_id
    finally:
        resolver.stop()


def test_latest_known_zone_per_identity(target: str) -> None:
    store = make_store(target)
    store.start()
    try:
        assert store.zone_of("sf_0000000000000001") is None
        store.record_zones(
            [
                ("sf_0000000000000001", "Europe/Berlin", "2025-10-02T10:00:00.000+00:00"),
                ("sf_0000000000000001", "Asia/Tokyo", "2025-10-01T10:00:00.000+00:00"),
                ("sf_0000000000000002", "Asia/Kolkata", "2025-10-01T10:00:00.000+00:00"),
            ]
        )
        assert store.zone_of("sf_0000000000000001") == "Europe/Berlin"
        # an older observation in a later batch does not replace a newer one
        store.record_zones([("sf_0000000000000001", "Asia/Tokyo", "2025-09-01T00:00:00.000+00:00")])
        assert store.zone_of("sf_0000000000000001") == "Europe/Berlin"
        store.record_zones(
            [("sf_0000000000000001", "America/New_York", "2025-11-01T00:00:00.000+00:00")]
        )
        assert store.zone_of("sf_0000000000000001") == "America/New_York"
        assert store.zone_of("sf_0000000000000002") == "Asia/Kolkata"
    finally:
        store.stop()
