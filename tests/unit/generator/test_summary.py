"""``--summary``'s expectation agrees with what a run generates."""

from __future__ import annotations

from sendflowr.generator.summary import expected_counts
from tests.unit.generator.conftest import History


def test_expected_counts_match_the_history(history: History) -> None:
    w = history.model.world
    expected = expected_counts(history.model, 350, w.history.start, w.history.end)
    assert abs(expected.total - len(history.block)) / len(history.block) < 0.05
    assert abs(sum(expected.by_channel.values()) - expected.total) < 1e-6
    assert abs(sum(expected.by_persona.values()) - expected.total) < 1e-6
    for etype in ("sent", "delivered", "opened", "clicked"):
        actual = int((history.of(etype).etype >= 0).sum())
        assert abs(expected.by_type[etype] - actual) / actual < 0.08, etype
