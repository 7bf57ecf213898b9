"""Releasing freed memory between batches: rate limits, and failures that never stop the sink."""

from __future__ import annotations

import sys

import pytest

from sendflowr.sink.memory import MemoryReleaser, malloc_trim


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _releaser(
    clock: FakeClock, calls: list[str], *, purge_fails: bool = False, embedded: bool = True
) -> MemoryReleaser:
    def purge() -> None:
        calls.append("purge")
        if purge_fails:
            raise RuntimeError("SYSTEM JEMALLOC PURGE is not supported")

    def trim() -> bool:
        calls.append("trim")
        return True

    return MemoryReleaser(
        purge if embedded else None, trim=trim, trim_every=1.0, purge_every=10.0, clock=clock
    )


def test_trims_and_purges_at_most_once_per_interval() -> None:
    clock, calls = FakeClock(), []
    releaser = _releaser(clock, calls)
    for _ in range(5):  # batches in quick succession: nothing yet
        clock.now += 0.1
        releaser.after_batch()
    assert calls == []
    clock.now = 1.0
    releaser.after_batch()
    releaser.after_batch()
    assert calls == ["trim"]
    for step in range(2, 11):
        clock.now = float(step)
        releaser.after_batch()
    assert calls.count("trim") == 10
    assert calls.count("purge") == 1


def test_a_failing_purge_is_not_tried_again_and_trims_go_on() -> None:
    clock, calls = FakeClock(), []
    releaser = _releaser(clock, calls, purge_fails=True)
    for step in range(1, 41):
        clock.now = float(step)
        releaser.after_batch()
    assert calls.count("purge") == 1
    assert calls.count("trim") == 40


def test_without_an_embedded_engine_only_the_c_heap_is_trimmed() -> None:
    clock, calls = FakeClock(), []
    releaser = _releaser(clock, calls, embedded=False)
    for step in range(1, 21):
        clock.now = float(step)
        releaser.after_batch()
    assert set(calls) == {"trim"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_runs_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert malloc_trim() is True


def test_falling_idle_releases_what_the_last_batches_left_once() -> None:
    clock, calls = FakeClock(), []
    releaser = _releaser(clock, calls)
    releaser.when_idle()  # nothing written yet: nothing to release
    assert calls == []
    clock.now = 0.5
    releaser.after_batch()  # within both intervals
    assert calls == []
    releaser.when_idle()
    assert sorted(calls) == ["purge", "trim"]
    releaser.when_idle()
    clock.now = 30.0
    releaser.when_idle()
    assert sorted(calls) == ["purge", "trim"]
