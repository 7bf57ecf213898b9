"""The in-process contract: generated CanonicalEvents load into the real chDB store."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from sendflowr.generator import expected_click_probability, generate_canonical, generate_truth
from sendflowr.store import ClickHouseStore
from tests.store_support import events_to_columns


def test_generated_events_load_and_keep_their_truth(store: ClickHouseStore) -> None:
    store.migrate()
    events = generate_canonical(seed=21, users=20)
    inserted = store.insert_columns("email_events", events_to_columns(events, datetime.now(UTC)))
    assert inserted == len(events)
    assert store.count_events() == len(events)
    result = store.query(
        f"SELECT count(DISTINCT universal_id), countIf(latency_seconds IS NOT NULL), "  # noqa: S608
        f"countIf(event_type = 'delivered') FROM {store.events_table}"
    )
    users, with_latency, delivered = result.rows[0]
    assert users == 20 and with_latency == delivered > 0

    truths = {t.universal_id: t for t in generate_truth(seed=21, users=20)}
    stored = store.query(
        f"SELECT DISTINCT universal_id, JSONExtractString(metadata, 'persona') "  # noqa: S608
        f"FROM {store.events_table}"
    )
    assert {(uid, truths[uid].persona) for uid, _ in stored.rows} == set(stored.rows)

    # the oracle is defined at every stored delivery time of a user
    uid = next(iter(truths))
    times = store.query(
        f"SELECT toUnixTimestamp64Milli(timestamp) FROM {store.events_table} "  # noqa: S608
        "WHERE universal_id = {uid:String} AND event_type = 'delivered'",
        {"uid": uid},
    )
    ms = np.array([r[0] for r in times.rows], dtype=np.int64)
    p = expected_click_probability(None, truths[uid], ms)
    assert p.shape == ms.shape and np.all((p > 0) & (p < 1))
