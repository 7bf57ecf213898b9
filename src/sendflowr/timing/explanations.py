"""The explanation store: every decision, its inputs and why, in ``timing_explanations``."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

import orjson

from sendflowr.store import ClickHouseStore
from sendflowr.store.schema import EXPLANATIONS_TABLE, quote_identifier
from sendflowr.timing.decisions import Decision
from sendflowr.timing.grid import slot_of

__all__ = ["ExplanationStore", "MemoryExplanations", "StoreExplanations"]


class ExplanationStore(Protocol):
    """Where decisions are kept so that they can be explained after the fact."""

    def save(self, decisions: list[Decision], inputs: dict[str, Any]) -> None:
        """Store ``decisions`` (one batch, sharing ``inputs``)."""
        ...

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The stored record of ``decision_id``, or None."""
        ...


def _record(d: Decision, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id,
        "universal_id": d.universal_id,
        "created_at_utc": d.created_at_utc.isoformat(),
        "target_minute_utc": slot_of(d.target_minute_utc),
        "target_time_utc": d.target_minute_utc.isoformat(),
        "trigger_timestamp_utc": d.trigger_timestamp_utc.isoformat(),
        "latency_estimate_seconds": d.latency_estimate_seconds,
        "confidence_score": d.confidence_score,
        "model_version": d.model_version,
        "inputs": inputs,
        "debug": d.debug,
        "explanation": d.explanation,
    }


class MemoryExplanations:
    """In-memory ExplanationStore for unit tests."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def save(self, decisions: list[Decision], inputs: dict[str, Any]) -> None:
        """Keep the records in a dict."""
        for d in decisions:
            self.records[d.decision_id] = _record(d, inputs)

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The record, or None."""
        return self.records.get(decision_id)


class StoreExplanations:
    """ExplanationStore over ClickHouse: one columnar insert per batch."""

    def __init__(self, store: ClickHouseStore) -> None:
        self._store = store

    def save(self, decisions: list[Decision], inputs: dict[str, Any]) -> None:
        """Insert every decision of the batch at once."""
        if not decisions:
            return
        inputs_json = orjson.dumps(inputs).decode()
        self._store.insert_columns(
            EXPLANATIONS_TABLE,
            {
                # The UUID text as it is: the driver parses it (a UUID object each costs ~10 µs).
                "decision_id": [d.decision_id for d in decisions],
                "universal_id": [d.universal_id for d in decisions],
                "created_at": [d.created_at_utc for d in decisions],
                "target_minute": [d.target_minute_utc for d in decisions],
                "trigger_at": [d.trigger_timestamp_utc for d in decisions],
                "latency_seconds": [d.latency_estimate_seconds for d in decisions],
                "confidence": [d.confidence_score for d in decisions],
                "model_version": [d.model_version for d in decisions],
                "inputs": [inputs_json] * len(decisions),
                "debug": [orjson.dumps(d.debug).decode() for d in decisions],
                "explanation": [orjson.dumps(d.explanation).decode() for d in decisions],
            },
        )

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The stored record of ``decision_id``, or None (also for a malformed id)."""
        try:
            uuid = UUID(decision_id)
        except ValueError:
            return None
        table = f"{quote_identifier(self._store.database)}.{EXPLANATIONS_TABLE}"
        result = self._store.query(
            "SELECT decision_id, universal_id, created_at, target_minute, trigger_at,"  # noqa: S608
            " latency_seconds, confidence, model_version, inputs, debug, explanation"
            f" FROM {table} WHERE decision_id = {{id:UUID}} LIMIT 1",
            {"id": str(uuid)},
        )
        if not result.rows:
            return None
        r = result.rows[0]
        return {
            "decision_id": str(r[0]),
            "universal_id": r[1],
            "created_at_utc": r[2].isoformat(),
            "target_minute_utc": slot_of(r[3]),
            "target_time_utc": r[3].isoformat(),
            "trigger_timestamp_utc": r[4].isoformat(),
            "latency_estimate_seconds": r[5],
            "confidence_score": r[6],
            "model_version": r[7],
            "inputs": orjson.loads(r[8]),
            "debug": orjson.loads(r[9]),
            "explanation": orjson.loads(r[10]),
        }
