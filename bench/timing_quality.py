"""How good are the timing engine's decisions, scored by the generator's own model?

For each seed: loads the full generated history into an in-process chDB under a
temp SENDFLOWR_HOME, fits the engine as of the day after the history ends (or
``--decided-after`` days later), decides a send for every user in the following
7 days and scores each decision with ``generator.expected_click_probability``
against:

- random: a uniformly random minute 06:00–22:59 (as the generator sends), exact mean;
- hourly: the legacy hourly STO fallback (best hour of day, at the top of the hour);
- oracle: the best minute of the window by the generator's own model.

Per persona: the share of users whose decision lands in one of their persona's
peak hours on an active weekday ("peak_share", personas with specific peak
hours only), % of the oracle's expected clicks and × random. Overall: % of the
oracle and × random, and Spearman(confidence, engine/oracle per user).
Decisions are the engine's learned choice: exploration is off unless ``--explore
SHARE`` (the API's default is 0.03), since its draws are keyed by recipient id, and
which users explore would otherwise add its own noise to every comparison. The
generator scores a rested user, so decisions use the base curves alone (one
line per seed with ``--live`` adds the result with live context applied).

One seed prints the per-persona table; several print one row per seed and
min / median / max. ``--decided-after DAYS`` decides that long after the
history ends and also scores the same seed decided the day after, printing the
ratio (the staleness target: ≥ 90 %). ``--baseline FILE`` (a ``--json`` output of an
earlier run, e.g. of a world without the personas this one adds) prints how far each
persona the two runs share moved: |peak share − baseline's| in points per seed, min /
median / max, and the seeds that moved more than 5 points. ``--json FILE`` writes every figure:
``{"seeds": {"<seed>": {"personas": {name: {"peak_share", "pct_oracle",
"x_random", ...}}, "overall": {"pct_oracle", "x_random", ...},
"spearman_confidence": ...}}, "summary": {...}}``.

    python bench/timing_quality.py [--seeds 1-20] [--world FILE] [--json FILE]
                                   [--decided-after 335] [--baseline FILE]
                                   [--now 2025-10-22]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing_common import History, load_history, parse_seeds, world_option
from sendflowr.generator import expected_click_probability, model_for
from sendflowr.timing.decisions import Decision, DecisionRequest
from sendflowr.timing.grid import epoch_minute, hourly_projection
from sendflowr.timing.localtime import decide_by_clock
from sendflowr.timing.sources import StoreSource, choose_zones
from sendflowr.timing.zones import table_for, to_wall_minutes, tzinfo_of

WINDOW = timedelta(days=7)
#: Columns of one decided user's row in ``score``.
IN_PEAK, ENGINE, RANDOM, HOURLY, ORACLE, ORACLE_HOUR, CONFIDENCE = range(7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=parse_seeds, default=None, help="e.g. 1-20 or 1,2,42 (default 42)"
    )
    parser.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    parser.add_argument("--world", type=world_option, default=None, help="generator world file")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument(
        "--decided-after", type=float, default=0.0, metavar="DAYS",
        help="decide DAYS after the day following the history's end (11 months ≈ 335)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline", type=Path, default=None,
        help="a --json output of an earlier run: print each shared persona's peak-share move",
    )  # fmt: skip
    parser.add_argument(
        "--explore", type=float, default=0.0, metavar="SHARE",
        help="exploration share of the decisions (default 0: the learned choice; the API: 0.03)",
    )  # fmt: skip
    parser.add_argument("--live", action="store_true", help="also score with live context")
    parser.add_argument(
        "--now",
        type=date.fromisoformat,
        default=None,
        help="decide as of this day (UTC midnight; evidence up to it) instead of after the "
        "history, e.g. 2025-10-22 for a window across Europe's DST change (Oct 26)",
    )
    args = parser.parse_args()
    seeds = args.seeds or [args.seed if args.seed is not None else 42]
    baseline = _read_baseline(args.baseline) if args.baseline else None
    if not 0.0 <= args.explore <= 1.0:
        parser.error(f"--explore must be a share between 0 and 1, got {args.explore:g}")

    results: dict[str, Any] = {}
    for seed in seeds:
        h = load_history(seed, args.world, args.decided_after)
        if args.now is not None:
            h.now = datetime(args.now.year, args.now.month, args.now.day, tzinfo=UTC)
        rows, skipped = score(h, h.engine(), h.now, live_context=False, explore=args.explore)
        result = summarise(h, rows, skipped)
        if args.decided_after:
            fresh_rows, _ = score(
                h, h.engine(now=h.ended), h.ended, live_context=False, explore=args.explore
            )
            fresh = summarise(h, fresh_rows, 0)["overall"]
            result["overall"]["fresh_pct_oracle"] = fresh["pct_oracle"]
            result["overall"]["fresh_engine"] = fresh["engine"]
            # % of the oracle decided late over % of the oracle decided the day after.
            result["overall"]["vs_fresh"] = round(
                result["overall"]["pct_oracle"] / fresh["pct_oracle"] * 100, 2
            )
        if args.live:
            live, live_skipped = score(
                h, h.engine(), h.now, live_context=True, explore=args.explore
            )
            result["live"] = summarise(h, live, live_skipped)["overall"]
        results[str(seed)] = result
        if len(seeds) == 1:
            report(h, rows, skipped, result)
            inferred_offsets(h)
        else:
            if len(results) == 1:
                print(f"decided at the history's end + 1 day + {args.decided_after:g} days; "
                      f"world {h.world.name}; window 7 days; "
                      f"exploration {args.explore:g}")  # fmt: skip
                print(_header(h))
            print(_row(h, seed, result), flush=True)
        h.drop()

    summary = _summary(results)
    if len(seeds) > 1:
        _print_summary(results, summary)
    if baseline is not None:
        summary["baseline"] = {"file": str(args.baseline), **moves(results, baseline)}
        _print_moves(summary["baseline"])
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seeds": results,
                    "summary": summary,
                    "world": str(args.world or ""),
                    "decided_after_days": args.decided_after,
                    "explore_share": args.explore,
                },
                indent=1,
            )  # fmt: skip
        )
        print(f"wrote {args.json}")


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
    h: History, engine: Any, now: datetime, *, live_context: bool, explore: float = 0.0
) -> tuple[dict[str, list[tuple[float, ...]]], int]:
    """Per persona, one row per decided user (see the column constants above).

    The generator scores a *rested* user (no fatigue, no hot path), so the main
    table decides on the base curves alone; ``live_context`` applies the modifiers.
    """
    model = model_for(h.world)
    curves = engine.curves(refresh=True)
    ids = [t.universal_id for t in h.truths]
    req = DecisionRequest(ids, send_after=now, send_before=now + WINDOW, explore_share=explore)
    contexts = engine.source.contexts(ids, epoch_minute(now)) if live_context else {}
    # Curves live on each recipient's local week: decide each on its own clock.
    out = decide_by_clock(req, curves, engine.latency, contexts, now, engine.source)
    decided = {d.universal_id: d for d in out if isinstance(d, Decision)}

    first = epoch_minute(now)
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
             float(p.max()), oracle_hour, float(d.confidence_score))
        )  # fmt: skip
    return rows, skipped


def spearman(x: np.ndarray, y: np.ndarray) -> float:  # type: ignore[type-arg]
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(v: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for value in np.unique(v):  # average the ranks of ties
            tie = v == value
            if tie.sum() > 1:
                r[tie] = r[tie].mean()
        return r

    if len(x) < 3:
        return float("nan")
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _has_peaks(persona: Any) -> bool:
    return persona.peak_hours not in ("all", [])


def summarise(h: History, rows: dict[str, list[tuple[float, ...]]], skipped: int) -> dict[str, Any]:
    """The figures of one run: per persona and overall (the ``--json`` shape)."""
    personas: dict[str, Any] = {}
    for p in h.world.personas:
        if not rows[p.name]:
            continue
        v = np.asarray(rows[p.name])
        eng, rnd, orc = v[:, ENGINE].mean(), v[:, RANDOM].mean(), v[:, ORACLE].mean()
        personas[p.name] = {
            "peak_share": round(float(v[:, IN_PEAK].mean()), 4) if _has_peaks(p) else None,
            "pct_oracle": round(float(eng / orc * 100), 2),
            "x_random": round(float(eng / rnd), 3),
            "users": len(v),
            "mean_confidence": round(float(v[:, CONFIDENCE].mean()), 4),
        }
    every = np.asarray([r for name in rows for r in rows[name]])
    eng, rnd, orc = every[:, ENGINE].mean(), every[:, RANDOM].mean(), every[:, ORACLE].mean()
    rho = spearman(every[:, CONFIDENCE], every[:, ENGINE] / every[:, ORACLE])
    return {
        "personas": personas,
        "overall": {
            "pct_oracle": round(float(eng / orc * 100), 2),
            "x_random": round(float(eng / rnd), 3),
            "engine": round(float(eng), 6),
            "random": round(float(rnd), 6),
            "hourly": round(float(every[:, HOURLY].mean()), 6),
            "oracle": round(float(orc), 6),
            "oracle_hour": round(float(every[:, ORACLE_HOUR].mean()), 6),
            "users": len(every),
            "skipped": skipped,
        },
        "spearman_confidence": round(rho, 4),
    }


def _short(name: str) -> str:
    return name[:9]


def _header(h: History) -> str:
    names = [p.name for p in h.world.personas if _has_peaks(p)]
    return (f"{'seed':>5}" + "".join(f"{_short(n):>10}" for n in names)
            + f"{'%oracle':>9}{'×random':>9}{'rho(conf)':>10}")  # fmt: skip


def _row(h: History, seed: int, r: dict[str, Any]) -> str:
    names = [p.name for p in h.world.personas if _has_peaks(p)]
    shares = "".join(f"{r['personas'][n]['peak_share']:>10.0%}" for n in names)
    o = r["overall"]
    extra = f"  vs fresh {o['vs_fresh']:.1f}%" if "vs_fresh" in o else ""
    return (f"{seed:>5}{shares}{o['pct_oracle']:>8.1f}%{o['x_random']:>9.3f}"
            f"{r['spearman_confidence']:>10.2f}{extra}")  # fmt: skip


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    """min / median / max over seeds of every persona's share and the overall figures."""
    out: dict[str, Any] = {"personas": {}, "overall": {}}
    first = next(iter(results.values()))
    for name, fig in first["personas"].items():
        if fig["peak_share"] is None:
            continue
        shares = [r["personas"][name]["peak_share"] for r in results.values()]
        out["personas"][name] = {
            "min": min(shares), "median": statistics.median(shares), "max": max(shares),
            "seeds_at_least_80pct": sum(s >= 0.8 for s in shares),
            "seeds_below_50pct": sum(s < 0.5 for s in shares),
        }  # fmt: skip
    for key in ("pct_oracle", "x_random", "vs_fresh"):
        vals = [r["overall"][key] for r in results.values() if key in r["overall"]]
        if vals:
            out["overall"][key] = {"min": min(vals), "median": statistics.median(vals),
                                   "max": max(vals)}  # fmt: skip
    rhos = [r["spearman_confidence"] for r in results.values()]
    out["spearman_confidence"] = {"min": min(rhos), "median": statistics.median(rhos),
                                  "max": max(rhos)}  # fmt: skip
    return out


def _read_baseline(path: Path) -> dict[str, Any]:
    try:
        seeds = json.loads(path.read_text())["seeds"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"--baseline {path}: not a --json output of this bench ({exc})") from None
    return dict(seeds)


def moves(results: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Per persona in both runs: |peak share − baseline's| in points, over their common seeds."""
    common = [seed for seed in results if seed in baseline]
    per: dict[str, list[float]] = defaultdict(list)
    for seed in common:
        before, after = baseline[seed]["personas"], results[seed]["personas"]
        for name, fig in after.items():
            old = before.get(name, {}).get("peak_share")
            if fig["peak_share"] is not None and old is not None:
                per[name].append(round(abs(fig["peak_share"] - old) * 100, 2))
    return {
        "seeds": common,
        "moves": {
            name: {"min": min(v), "median": statistics.median(v), "max": max(v),
                   "seeds_over_5pts": sum(m > 5 for m in v), "per_seed": v}
            for name, v in per.items()
        },
    }  # fmt: skip


def _print_moves(base: dict[str, Any]) -> None:
    print(f"peak-share move against {base['file']} ({len(base['seeds'])} common seeds), "
          "points min / median / max, seeds > 5 points:")  # fmt: skip
    for name, m in base["moves"].items():
        print(f"  {name:<16}{m['min']:>6.1f}{m['median']:>7.1f}{m['max']:>7.1f}"
              f"{m['seeds_over_5pts']:>5}")  # fmt: skip


def _print_summary(results: dict[str, Any], summary: dict[str, Any]) -> None:
    names = list(summary["personas"])
    for stat in ("min", "median", "max"):
        shares = "".join(f"{summary['personas'][n][stat]:>10.0%}" for n in names)
        o = summary["overall"]
        extra = f"  vs fresh {o['vs_fresh'][stat]:.1f}%" if "vs_fresh" in o else ""
        print(f"{stat:>5}{shares}{o['pct_oracle'][stat]:>8.1f}%{o['x_random'][stat]:>9.3f}"
              f"{summary['spearman_confidence'][stat]:>10.2f}{extra}")  # fmt: skip
    n = len(results)
    print("seeds with peak share ≥ 80% (of " + str(n) + "): " + ", ".join(
        f"{k} {v['seeds_at_least_80pct']}" for k, v in summary["personas"].items()))  # fmt: skip
    print("seeds with peak share < 50%: " + ", ".join(
        f"{k} {v['seeds_below_50pct']}" for k, v in summary["personas"].items()))  # fmt: skip


def report(
    h: History, rows: dict[str, list[tuple[float, ...]]], skipped: int, result: dict[str, Any]
) -> None:
    """Print one seed's per-persona table."""
    header = (
        f"{'persona':<16}{'n':>4}{'peak-hour':>10}{'engine':>9}{'random':>9}{'hourly':>9}"
        f"{'oracle':>9}{'eng/rand':>9}{'eng/orac':>9}{'conf':>7}"
    )
    print(f"seed {h.seed}: {sum(len(v) for v in rows.values())} users decided, "
          f"{skipped} skipped (suppressed); window {h.now:%Y-%m-%d %H:%M} + 7 days")  # fmt: skip
    r = h.report
    print(f"latency model held-out MAE {r.model_mae:.2f} s (heuristic {r.heuristic_mae:.2f} s, "
          f"constant 300 s {r.constant_mae:.2f} s)")  # fmt: skip
    print(header)
    print("-" * len(header))
    everything: list[tuple[float, ...]] = []
    for p in h.world.personas:
        if not rows[p.name]:
            continue
        everything.extend(rows[p.name])
        _line(p.name, np.asarray(rows[p.name]), _has_peaks(p))
    print("-" * len(header))
    with_peaks = [v for p in h.world.personas if _has_peaks(p) for v in rows[p.name]]
    _line("with peaks", np.asarray(with_peaks), True)
    _line("overall", np.asarray(everything), False)
    every = np.asarray(everything).mean(axis=0)
    print(f"oracle hour at a median minute (the ceiling without knowing each persona's peak "
          f"minutes): {every[ORACLE_HOUR]:.4f} = {every[ORACLE_HOUR] / every[RANDOM]:.2f}× "
          f"random, {every[ORACLE_HOUR] / every[ORACLE]:.1%} of oracle")  # fmt: skip
    print(f"Spearman(confidence, engine/oracle per user) = {result['spearman_confidence']:.3f}")
    o = result["overall"]
    if "vs_fresh" in o:
        print(
            f"decided the day after the history ends: {o['fresh_pct_oracle']:.1f}% of oracle; "
            f"now {o['pct_oracle']:.1f}% of oracle, {o['vs_fresh']:.1f}% of the fresh score"
        )
    if "live" in result:
        lv = result["live"]
        print(f"with live context (fatigue from the last 24 h, hot paths, suppressions; "
              f"{lv['skipped']} suppressed): {lv['x_random']:.2f}× random, "
              f"{lv['pct_oracle']:.1f}% of oracle")  # fmt: skip


def _line(name: str, vals: np.ndarray, peaks: bool) -> None:  # type: ignore[type-arg]
    share, eng, rnd, sto, orc, _, conf = vals.mean(axis=0)
    peak = f"{share:>10.1%}" if peaks else f"{'-':>10}"
    print(f"{name:<16}{len(vals):>4}{peak}{eng:>9.4f}{rnd:>9.4f}{sto:>9.4f}{orc:>9.4f}"
          f"{eng / rnd:>9.2f}{eng / orc:>9.1%}{conf:>7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
