"""How well can any confidence rank decisions on this bench? The engine's against two references.

``bench/timing_quality.py`` reports Spearman(confidence, engine/oracle per user). This
bench decides the same way (the shipped world or ``--world``, the day after the
history, a 7-day window, base curves) and sets the engine's confidence beside two
references that use the generator's truth, which no engine has:

- ``hour_known``: the share of the oracle a decision gets *on average over the minutes
  of the hour it chose*, i.e. a confidence that knows exactly how good the chosen hour is
  and nothing about the minute inside it (the engine's position: the peak minutes are not
  learnable from the history, see ``bench/timing_ceiling.py``);
- ``persona_mean``: each user's persona's mean engine/oracle on that seed.

and one counterfactual: ``random_minute``, Spearman(confidence, engine/oracle) had each
decision kept its hour but taken a minute of it drawn at random per user (seeded), so that
users who share a segment no longer share its minute's luck; ``random_minute_pct`` is what
that costs (its mean engine/oracle over the engine's, in percent).

It also prints how often the chosen minute is one of the persona's peak minutes against
chance (peak minutes / 60), and, pooled over the seeds, whether the recipient's fitted
minute factor at the chosen minute tells those hits apart (AUC; 0.5 = not at all). When
the minute is chance, a persona whose decisions happen to land on peak minutes scores
≈ 100 % of the oracle on that seed and ≈ 90 % on another, whatever the confidence says:
that part of engine/oracle is luck, and ``hour_known`` is about the best ranking a
confidence can reach.

    python bench/timing_confidence.py [--seeds 1-20] [--world FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing_common import History, load_history, parse_seeds, world_option
from sendflowr.generator import expected_click_probability, model_for
from sendflowr.timing.decisions import Decision, DecisionRequest
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.localtime import decide_by_clock
from sendflowr.timing.zones import to_wall_minutes
from timing_quality import WINDOW, spearman


def measure(h: History) -> dict[str, Any]:
    """One seed: the three Spearman figures and the peak-minute hit rate."""
    engine = h.engine()
    curves = engine.curves(refresh=True)
    ids = [t.universal_id for t in h.truths]
    req = DecisionRequest(ids, send_after=h.now, send_before=h.now + WINDOW)
    out = decide_by_clock(req, curves, engine.latency, {}, h.now, engine.source)
    decided = {d.universal_id: d for d in out if isinstance(d, Decision)}
    model = model_for(h.world)
    first = epoch_minute(h.now)
    minutes = np.arange(first, first + int(WINDOW.total_seconds() // 60), dtype=np.int64)
    personas = {p.name: p for p in h.world.personas}
    names: list[str] = []
    # engine/oracle, confidence, hour_known, engine/oracle with a random minute of the hour
    cols: list[tuple[float, float, float, float]] = []
    rng = np.random.default_rng(h.seed)
    hits = chance = 0.0
    minute_pairs: list[tuple[float, float]] = []  # (hit, fitted minute factor there)
    for t in h.truths:
        d = decided.get(t.universal_id)
        if d is None:
            continue
        p = expected_click_probability(model, t, minutes * 60_000)
        k = epoch_minute(d.target_minute_utc) - first
        wall = int(to_wall_minutes(minutes[k : k + 1], t.timezone)[0])
        start = max(k - wall % 60, 0)
        best = float(p.max())
        hour = p[start : start + 60]
        cols.append((float(p[k]) / best, d.confidence_score, float(hour.mean()) / best,
                     float(hour[rng.integers(len(hour))]) / best))  # fmt: skip
        names.append(t.persona)
        peak_minutes = personas[t.persona].peak_minutes
        if peak_minutes:
            hit = float(wall % 60 in peak_minutes)
            hits += hit
            chance += len(peak_minutes) / 60
            row = int(curves.rows([t.universal_id])[0])
            slot = int(d.explanation["target"]["slot"])
            minute_pairs.append((hit, float(curves.minute_factor[row, slot % 60])))
    v = np.asarray(cols)
    ratio = v[:, 0]
    persona = np.asarray(names)
    mean_of = {n: float(ratio[persona == n].mean()) for n in set(names)}
    persona_mean = np.asarray([mean_of[n] for n in names])
    with_peaks = sum(bool(personas[n].peak_minutes) for n in names)
    return {
        "spearman_confidence": round(spearman(v[:, 1], ratio), 4),
        "spearman_hour_known": round(spearman(v[:, 2], ratio), 4),
        "spearman_persona_mean": round(spearman(persona_mean, ratio), 4),
        "spearman_random_minute": round(spearman(v[:, 1], v[:, 3]), 4),
        "random_minute_pct": round(float(v[:, 3].mean() / ratio.mean() * 100), 2),
        "peak_minute_hits": round(hits / max(with_peaks, 1), 4),
        "peak_minute_chance": round(chance / max(with_peaks, 1), 4),
        "users": len(v),
        "minute_pairs": minute_pairs,
    }


def auc(score: np.ndarray, label: np.ndarray) -> float:  # type: ignore[type-arg]
    """P(a positive's score > a negative's), ties counted half (Mann–Whitney)."""
    pos, neg = score[label], score[~label]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


_KEYS = (
    "spearman_confidence",
    "spearman_hour_known",
    "spearman_persona_mean",
    "spearman_random_minute",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default="1-20", help="e.g. 1-20 or 1,2,42")
    parser.add_argument("--world", type=world_option, default=None, help="generator world file")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    pairs: list[tuple[float, float]] = []
    print(f"{'seed':>5}{'confidence':>12}{'hour_known':>12}{'persona':>10}{'rand-min':>10}"
          f"{'peak-min hits':>17}")  # fmt: skip
    for seed in args.seeds:
        h = load_history(seed, args.world)
        r = results[str(seed)] = measure(h)
        pairs.extend(r.pop("minute_pairs"))
        h.drop()
        print(f"{seed:>5}" + "".join(f"{r[k]:>12.2f}" for k in _KEYS[:2])
              + f"{r['spearman_persona_mean']:>10.2f}{r['spearman_random_minute']:>10.2f}"
              + f"{r['peak_minute_hits']:>9.1%} ({r['peak_minute_chance']:.1%})"
              + f"  rand-min {r['random_minute_pct']:.1f}% of engine", flush=True)  # fmt: skip
    summary = {
        k: {stat: fn([r[k] for r in results.values()]) for stat, fn in
            (("min", min), ("median", statistics.median), ("max", max))}
        for k in (*_KEYS, "peak_minute_hits", "random_minute_pct")
    }  # fmt: skip
    for stat in ("min", "median", "max"):
        print(f"{stat:>5}" + "".join(f"{summary[k][stat]:>12.2f}" for k in _KEYS[:2])
              + f"{summary['spearman_persona_mean'][stat]:>10.2f}"
              + f"{summary['spearman_random_minute'][stat]:>10.2f}"
              + f"{summary['peak_minute_hits'][stat]:>9.1%}"
              + f"  rand-min {summary['random_minute_pct'][stat]:.1f}%")  # fmt: skip
    hit, factor = np.asarray(pairs).T if pairs else (np.zeros(0), np.zeros(0))
    summary["peak_minute_pooled"] = {
        "hits": round(float(hit.mean()), 4) if len(hit) else None,
        "auc_fitted_minute_factor": round(auc(factor, hit > 0), 4),
    }
    print(f"pooled over the seeds: chosen minute a peak minute for {hit.mean():.1%} of the "
          f"peaked users; AUC of the fitted minute factor for those hits "
          f"{summary['peak_minute_pooled']['auc_fitted_minute_factor']:.2f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"seeds": results, "summary": summary,
                                         "world": str(args.world or "")}, indent=1))  # fmt: skip
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
