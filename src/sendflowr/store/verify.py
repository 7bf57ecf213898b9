"""The seed's verification queries, and a few more, answered from the store."""

from __future__ import annotations

from dataclasses import dataclass

from sendflowr.store.access import Queryable
from sendflowr.store.clickhouse import QueryResult

__all__ = ["Check", "verification_checks"]


@dataclass(frozen=True, slots=True)
class Check:
    """A titled query result."""

    title: str
    result: QueryResult


def verification_checks(store: Queryable, database: str) -> list[Check]:
    """Run the verification queries of the seed's README (and the behaviour counts)."""
    queries = [
        (
            "Events with a universal_id (seed: count … WHERE universal_id LIKE 'sf_%')",
            "SELECT count() AS events FROM {db:Identifier}.email_events "
            "WHERE universal_id LIKE 'sf_%'",
        ),
        (
            "Recent events (seed: universal_id, substring(recipient_email_hash, 1, 16), …)",
            "SELECT universal_id, substring(recipient_email_hash, 1, 16) AS email_hash, "
            "event_type, formatDateTime(timestamp, '%F %T') AS timestamp "
            "FROM {db:Identifier}.email_events "
            "WHERE universal_id LIKE 'sf_%' "
            "ORDER BY timestamp DESC LIMIT 10",
        ),
        (
            "Events by type",
            "SELECT event_type, count() AS events FROM {db:Identifier}.email_events "
            "GROUP BY event_type ORDER BY events DESC",
        ),
        (
            "Delivery latency by channel (seconds)",
            "SELECT channel, count() AS delivered, "
            "round(quantile(0.5)(latency_seconds), 1) AS p50, "
            "round(quantile(0.9)(latency_seconds), 1) AS p90, "
            "round(quantile(0.99)(latency_seconds), 1) AS p99, "
            "round(max(latency_seconds), 1) AS max FROM {db:Identifier}.email_events "
            "WHERE event_type = 'delivered' GROUP BY channel ORDER BY channel",
        ),
        (
            "Hot paths and circuit breakers",
            "SELECT multiIf(event_type IN ('site_visit', 'sms_click', 'product_view'), 'hot path', "
            "'circuit breaker') AS kind, event_type, count() AS events, "
            "uniqExact(universal_id) AS users FROM {db:Identifier}.email_events "
            "WHERE event_type IN ('site_visit', 'sms_click', 'product_view', "
            "'support_ticket', 'complaint', 'unsubscribe_request') "
            "GROUP BY kind, event_type ORDER BY kind, event_type",
        ),
    ]
    return [Check(title, store.query(sql, {"db": database})) for title, sql in queries]
