"""How good are the timing engine's decisions, scored by the generator's own model?

Loads the full generated history (fixed seed) into an in-process chDB under a
temp SENDFLOWR_HOME, fits the engine as of the end of the history, decides a
send for every user in the following 7 days and scores each decision with
``generator.expected_click_probability`` against:

- random: a uniformly random minute 06:00–22:59 (as the generator sends), exact mean;
- hourly: the legacy hourly STO fallback (best hour of day, at the top of the hour);
- oracle: the best minute of the window by the generator's own model.

Prints, per persona and overall, the share of users whose decision lands in one
of their persona's peak hours on an active weekday ("with peaks": the personas
that have specific peak hours), and expected clicks. The generator scores a
rested user, so the table's decisions use the base curves alone; a last line
gives the result with live context (fatigue, hot paths, suppressions) applied.

    python bench/timing_quality.py [--seed 42] [--now 2025-10-22]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing_common import load_history
from sendflowr.generator import expected_click_probability, model_for
from sendflowr.timing.decisions import Decision, DecisionRequest
from sendflowr.timing.grid import epoch_minute, hourly_projection
from sendflowr.timing.localtime import decide_by_clock
from sendflowr.timing.sources import StoreSource, choose_zones
from sendflowr.timing.zones import table_for, to_wall_minutes, tzinfo_of

WINDOW = timedelta(days=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--now",
        type=date.fromisoformat,
        default=None,
        help="decide as of this day (UTC midnight; evidence up to it) instead of the end of the "
        "history, e.g. 2025-10-22 for a window across Europe's DST change (Oct 26)",
    )
    args = parser.parse_args()
    h = load_history(args.seed)
    if args.now is not None:
        h.now = datetime(args.now.year, args.now.month, args.now.day, tzinfo=UTC)
    rows, skipped = score(h, h.engine(), live_context=False)
    report(h, rows, skipped)
    live, live_skipped = score(h, h.engine(), live_context=True)
    every = np.asarray([v for name in live for v in live[name]])
    _, eng, rnd, _, orc, _ = every.mean(axis=0)
    print(f"with live context (fatigue from the last 24 h, hot paths, suppressions; "
          f"{live_skipped} suppressed): engine {eng:.4f} = {eng / rnd:.2f}× random, "
          f"{eng / orc:.1%} of oracle")  # fmt: skip
    inferred_offsets(h)


def inferred_offsets(h: Any) -> None:
    """How often the engine's zone inference (used when no zone is known) gets the offset
    right, for users with at least 10 engagements, ignoring the zones the events carry."""
    evidence = StoreSource(h.store).utc_evidence(epoch_minute(h.now))
    engaged = np.bincount(
        evidence.user_index[evidence.clicked | evidence.opened],
        minlength=len(evidence.universal_ids),
    )
    guesses = choose_zones(evidence, {})
    truth = {t.universal_id: t.timezone for t in h.truths}
    now_ms = int(h.now.timestamp() * 1000)
    exact = near = n = 0
    for uid, count in zip(evidence.universal_ids, engaged.tolist(), strict=True):
        if count < 10 or uid not in truth:
            continue
        n += 1
        actual = int(table_for(truth[uid], [now_ms]).offset_at([now_ms])[0]) // 60_000
        guess = guesses[uid]
        got = int(table_for(guess.name, [now_ms]).offset_at([now_ms])[0]) // 60_000
        exact += int(guess.source == "inferred" and got == actual)
        near += int(guess.source == "inferred" and abs(got - actual) <= 60)
    print(f"zone inference, users with >= 10 engagements (n={n}): offset right "
          f"{exact / max(n, 1):.1%}, within an hour {near / max(n, 1):.1%}")  # fmt: skip


def score(
    h: Any, engine: Any, *, live_context: bool
) -> tuple[dict[str, list[tuple[float, ...]]], int]:
    """Per persona: (in peak hour, engine, random, hourly, oracle) of each decided user.

    The generator scores a *rested* user (no fatigue, no hot path), so the main
    table decides on the base curves alone; ``live_context`` applies the modifiers.
    """
    model = model_for(h.world)
    curves = engine.curves(refresh=True)
    ids = [t.universal_id for t in h.truths]
    req = DecisionRequest(ids, send_after=h.now, send_before=h.now + WINDOW)
    contexts = engine.source.contexts(ids, epoch_minute(h.now)) if live_context else {}
    # Curves live on each recipient's local week: decide each on its own clock.
    out = decide_by_clock(req, curves, engine.latency, contexts, h.now, engine.source)
    decided = {d.universal_id: d for d in out if isinstance(d, Decision)}

    first = epoch_minute(h.now)
    minutes = np.arange(first, first + int(WINDOW.total_seconds() // 60), dtype=np.int64)
    ms = minutes * 60_000
    hourly = hourly_projection(curves.curves(curves.rows(ids)))
    personas = {p.name: p for p in h.world.personas}

    rows: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    skipped = 0
    for i, t in enumerate(h.truths):
        d = decided.get(t.universal_id)
        if d is None:
            skipped += 1
            continue
        # Persona hours, the send window and the hourly STO's hour are all local (issue #15).
        hour = (to_wall_minutes(minutes, t.timezone) // 60) % 24
        sendable = (hour >= 6) & (hour <= 22)
        p = expected_click_probability(model, t, ms)
        k = epoch_minute(d.target_minute_utc) - first
        best_hour = int(np.argmax(hourly[i]))
        sto = np.flatnonzero(hour == best_hour)
        sto_k = int(sto[minutes[sto] % 60 == 0][0]) if len(sto) else 0
        persona = personas[t.persona]
        target = d.target_minute_utc.astimezone(tzinfo_of(t.timezone))
        in_peak = target.hour in persona.hours("peak") and target.weekday() in persona.active_days
        # The oracle's hour at a median minute: what knowing the hour (not the minute) is worth.
        best = int(np.argmax(p))
        hour_start = best - best % 60
        oracle_hour = float(np.median(p[hour_start : hour_start + 60]))
        rows[t.persona].append(
            (float(in_peak), float(p[k]), float(p[sendable].mean()), float(p[sto_k]),
             float(p.max()), oracle_hour)
        )  # fmt: skip

    return rows, skipped


def report(h: Any, rows: dict[str, list[tuple[float, ...]]], skipped: int) -> None:
    """Print the table."""
    personas = {p.name: p for p in h.world.personas}
    header = (
        f"{'persona':<16}{'n':>4}{'peak-hour':>10}{'engine':>9}{'random':>9}{'hourly':>9}"
        f"{'oracle':>9}{'eng/rand':>9}{'eng/orac':>9}"
    )
    print(f"seed {h.seed}: {sum(len(v) for v in rows.values())} users decided, "
          f"{skipped} skipped (suppressed); window {h.now:%Y-%m-%d %H:%M} + 7 days")  # fmt: skip
    r = h.report
    print(f"latency model held-out MAE {r.model_mae:.2f} s (heuristic {r.heuristic_mae:.2f} s, "
          f"constant 300 s {r.constant_mae:.2f} s)")  # fmt: skip
    print(header)
    print("-" * len(header))
    everything: list[tuple[float, ...]] = []
    for name in [p.name for p in h.world.personas]:
        vals = np.asarray(rows[name])
        everything.extend(rows[name])
        _line(name, vals, bool(personas[name].peak_hours) and personas[name].peak_hours != "all")
    print("-" * len(header))
    with_peaks = [
        v for p in h.world.personas if p.peak_hours not in ("all", []) for v in rows[p.name]
    ]
    _line("with peaks", np.asarray(with_peaks), True)
    _line("overall", np.asarray(everything), False)
    every = np.asarray(everything).mean(axis=0)
    print(f"oracle hour at a median minute (the ceiling without knowing each persona's peak "
          f"minutes): {every[5]:.4f} = {every[5] / every[2]:.2f}× random, "
          f"{every[5] / every[4]:.1%} of oracle")  # fmt: skip


def _line(name: str, vals: np.ndarray, peaks: bool) -> None:  # type: ignore[type-arg]
    share, eng, rnd, sto, orc, _ = vals.mean(axis=0)
    peak = f"{share:>10.1%}" if peaks else f"{'-':>10}"
    print(f"{name:<16}{len(vals):>4}{peak}{eng:>9.4f}{rnd:>9.4f}{sto:>9.4f}{orc:>9.4f}"
          f"{eng / rnd:>9.2f}{eng / orc:>9.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
