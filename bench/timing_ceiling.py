"""What can any engine learn from the generated history? Three ceilings, using the truth.

1. Minute of hour. The generator lifts a persona's 4 peak minutes (×1.3 affinity)
   in every hour of its active days and damps :59/:00/:01 (×0.7) for everyone.
   Given each user's TRUE persona and TRUE hour-level affinity (far more than an
   engine knows), estimate each persona's minute effect by lift-weighted least
   squares pooled over all its users and hours, and print: how many of the top-4
   estimated minutes are real peak minutes (chance: 4·4/60 ≈ 0.27), and the
   z-score of the peak minutes' mean estimate. Then the same for the shared
   edge penalty pooled over everyone.
2. Persona from one user's own evidence. The Bayes classifier with the
   generator's own persona parameters (affinity, open rate, activity hours):
   the share of each persona's users whose own deliveries and activity signals
   point at their persona. Decisions that hinge on the persona (weekend vs
   weekday) cannot beat this by much.
   Both read the evidence as the engine does: every minute already on its user's
   local clock (``timing.sources.localise``), as persona hours and days are.
3. Truth-pooled hour of the week. The engine decides on segment profiles
   ``base + day[d]·hour[h]`` fitted to behaviour segments it finds by EM. If that
   segmentation were perfect (one segment per TRUE persona), would each persona's
   profile put its best hour of the week on one of the persona's active days, in one
   of its peak hours (local time)? The profiles are fitted as the engine fits its own
   (``timing.curves.pooled_profiles``: the same evidence, settings and M-step). A
   persona whose best hour falls outside its peak on a seed cannot be fixed there by
   any segmentation: the deliveries that would show its peak are missing. Personas
   without peak hours (``"all"`` or none) are skipped, as in timing_quality.

Every ceiling runs on each seed of ``--seeds`` (``--seed N`` is ``--seeds N``; default
42). The truth-pooled table prints one row per seed (best hour, ``+`` in peak, ``-``
not), then per persona: in peak on N of M seeds. ``--json FILE`` writes every figure:
``{"seeds": {"<seed>": {"deliveries", "personas", "edge_minutes", "bayes_recognised"}},
"truth_pooled": {"<seed>": {"<persona>": {"best_hour": "Sat 08", "in_peak": true}}},
"truth_pooled_summary": {"<persona>": {"in_peak": N, "seeds": M, "missed": [...]}}}``;
with one seed, its figures also stand at the top level (the layout before ``--seeds``).

    python bench/timing_ceiling.py [--seeds 1-20 | --seed 42] [--world FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))
from _figures import add_json_option, write_json
from _timing_common import History, load_history, parse_seeds, world_option
from sendflowr.generator import model_for
from sendflowr.generator.world import Persona
from sendflowr.timing.curves import CurveConfig, Evidence, pooled_profiles
from sendflowr.timing.grid import epoch_minute

IntArray = npt.NDArray[np.int64]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=parse_seeds, default=None, help="e.g. 1-20 or 1,2,42 (default 42)"
    )
    parser.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    parser.add_argument("--world", type=world_option, default=None, help="generator world file")
    add_json_option(parser)
    args = parser.parse_args()
    seeds = args.seeds or [args.seed if args.seed is not None else 42]

    per_seed: dict[str, Any] = {}
    pooled: dict[str, dict[str, dict[str, Any]]] = {}
    peaked: list[str] = []
    for seed in seeds:
        h = load_history(seed, args.world)
        engine = h.engine()
        ev = engine.source.evidence(epoch_minute(h.now))
        label = _labels(h, ev)
        per_seed[str(seed)] = {
            "deliveries": int(ev.size),
            **minute_ceiling(h, ev, label, seed),
            "bayes_recognised": bayes_ceiling(h, ev, label),
        }
        persona_of = {t.universal_id: t.persona for t in h.truths}
        pooled[str(seed)] = truth_pooled(
            ev, epoch_minute(h.now), engine.config, persona_of, h.world.personas
        )
        peaked = [p.name for p in h.world.personas if has_peaks(p)]
        h.drop()

    summary = print_truth_pooled(pooled, peaked)
    figures: dict[str, Any] = {
        "world": str(args.world or ""),
        "seeds": per_seed,
        "truth_pooled": pooled,
        "truth_pooled_summary": summary,
    }
    if len(seeds) == 1:
        figures = {"seed": seeds[0], **per_seed[str(seeds[0])], **figures}
    write_json(args.json, "timing_ceiling", figures)


def minute_ceiling(h: History, ev: Evidence, label: IntArray, seed: int) -> dict[str, Any]:
    """Ceiling 1: each persona's peak minutes and the shared edge minutes, estimated with
    the true persona (``label``: each evidence user's) and hour-level affinity of every
    delivery."""
    model = model_for(h.world)
    world = h.world
    personas = world.personas
    who = label[ev.user_index]
    slot = (ev.delivered_minute + 3 * 1440) % 10080
    minute = slot % 60
    engaged = (ev.clicked | ev.opened).astype(float)
    # Hour-level affinity: the table at minute 3 of the hour (neither an edge nor any peak).
    aff = model.affinity[:, slot - minute + 3]
    open_rate = np.asarray([p.open_rate for p in personas])
    share = world.engagement.affinity_open * (1 - open_rate)
    lift = aff[who, np.arange(len(who))] * share[who]
    resid = engaged - (open_rate[who] + lift)

    print(f"seed {seed}: {ev.size} deliveries, {len(ev.universal_ids)} users")
    print(
        f"{'persona':<16}{'peak minutes':>18}{'top-4 estimated':>20}{'hits':>6}{'z(peaks)':>10}"
        f"{'expected z':>12}"
    )
    figures: dict[str, Any] = {"personas": {}}
    for p, persona in enumerate(personas):
        if not persona.peak_minutes:
            continue
        sel = who == p
        num = np.bincount(minute[sel], weights=lift[sel] * resid[sel], minlength=60)
        den = np.bincount(minute[sel], weights=lift[sel] ** 2, minlength=60)
        est = num / np.clip(den, 1e-12, None)
        top = [int(m) for m in np.argsort(-est)[:4]]
        peaks = list(persona.peak_minutes)
        hits = len(set(top) & set(peaks))
        # z of the peak minutes' pooled estimate (its noise: residual variance / Σ lift²).
        var = float(np.var(resid[sel]))
        z = float(num[peaks].sum() / np.sqrt(var * den[peaks].sum()))
        # What z would average if the estimator saw the true +30 % lift at peak minutes.
        z_true = (world.engagement.peak_minute - 1) * float(np.sqrt(den[peaks].sum() / var))
        print(f"{persona.name:<16}{peaks!s:>18}{top!s:>20}{hits:>6}{z:>10.2f}{z_true:>12.2f}")
        figures["personas"][persona.name] = {
            "peak_minutes": peaks, "top4_estimated": top, "hits": hits,
            "z_peaks": round(z, 3), "expected_z": round(z_true, 3),
        }  # fmt: skip
    edges = list(world.engagement.edge_minutes)
    num = np.bincount(minute, weights=lift * resid, minlength=60)
    den = np.bincount(minute, weights=lift**2, minlength=60)
    var = float(np.var(resid))
    z = float(num[edges].sum() / np.sqrt(var * den[edges].sum()))
    z_true = (world.engagement.edge - 1) * float(np.sqrt(den[edges].sum() / var))
    print(f"edge minutes {edges} pooled over everyone: z = {z:.2f} (expected {z_true:.2f})")
    figures["edge_minutes"] = {"minutes": edges, "z": round(z, 3), "expected_z": round(z_true, 3)}
    return figures


def bayes_ceiling(h: History, ev: Evidence, label: IntArray) -> dict[str, float]:
    """Ceiling 2: the share of each persona's users that the Bayes classifier with the
    generator's own persona parameters recognises from their own evidence."""
    model = model_for(h.world)
    world = h.world
    personas = world.personas
    slot = (ev.delivered_minute + 3 * 1440) % 10080
    engaged = (ev.clicked | ev.opened).astype(float)
    open_rate = np.asarray([p.open_rate for p in personas])
    n, k = len(label), len(personas)
    p_open = 1 - (1 - world.engagement.affinity_open * model.affinity[:, slot]) * (
        1 - open_rate[:, None]
    )
    ll_delivery = np.where(engaged[None] > 0, np.log(p_open), np.log1p(-p_open))
    ll = np.stack([np.bincount(ev.user_index, weights=row, minlength=n) for row in ll_delivery], 1)
    act_hour = (ev.activity_minute % 1440) // 60
    for p in range(k):
        dist = np.full(24, 1e-3)
        dist[model.active_hours[p]] = 1.0 / len(model.active_hours[p])
        dist /= dist.sum()
        ll[:, p] += np.bincount(ev.activity_index, weights=np.log(dist[act_hour]), minlength=n)
    ll += np.log(np.asarray([p.count for p in personas], dtype=float))[None, :]
    best = ll.argmax(axis=1)
    print("Bayes classifier with the true persona parameters, share of users recognised:")
    print("  " + "  ".join(f"{p.name} {np.mean(best[label == i] == i):.0%}"
                           for i, p in enumerate(personas)))  # fmt: skip
    return {p.name: round(float(np.mean(best[label == i] == i)), 4) for i, p in enumerate(personas)}


def _labels(h: History, ev: Evidence) -> IntArray:
    """Each evidence user's true persona index."""
    of_user = {t.universal_id: t.persona_index for t in h.truths}
    return np.asarray([of_user[u] for u in ev.universal_ids])


def has_peaks(persona: Persona) -> bool:
    """Whether the persona has specific peak hours (not ``"all"``, not none)."""
    return persona.peak_hours not in ("all", [])


def truth_pooled(
    ev: Evidence,
    now_minute: int,
    config: CurveConfig,
    persona_of: Mapping[str, str],
    personas: Sequence[Persona],
) -> dict[str, dict[str, Any]]:
    """Ceiling 3: per persona with peak hours, the best hour of the week of its profile
    fitted on the true partition (one segment per persona, ``persona_of`` each user's
    persona name) and whether it is in the persona's peak (an active day, a peak hour).

    ``{"<persona>": {"best_hour": "Sat 08", "in_peak": True}}``.
    """
    column = {p.name: i for i, p in enumerate(personas)}
    resp = np.zeros((len(ev.universal_ids), len(personas)))
    for row, uid in enumerate(ev.universal_ids):
        resp[row, column[persona_of[uid]]] = 1.0
    profiles = pooled_profiles(ev, now_minute, config, resp)
    out: dict[str, dict[str, Any]] = {}
    for i, persona in enumerate(personas):
        if not has_peaks(persona):
            continue
        day, hour = divmod(int(profiles[i].argmax()), 24)
        in_peak = day in persona.active_days and hour in persona.hours("peak")
        out[persona.name] = {"best_hour": f"{DAYS[day]} {hour:02d}", "in_peak": in_peak}
    return out


def print_truth_pooled(
    pooled: Mapping[str, Mapping[str, Mapping[str, Any]]], names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Print the truth-pooled table (one row per seed) and, per persona, on how many seeds
    its best hour is in its peak; return those counts."""
    print("truth-pooled best hour of the week (+ in peak, - not):")
    print(f"{'seed':>5}" + "".join(f"{n[:10]:>11}" for n in names))
    for seed, row in pooled.items():
        cells = (f"{row[n]['best_hour']}h{'+' if row[n]['in_peak'] else '-'}" for n in names)
        print(f"{seed:>5}" + "".join(f"{c:>11}" for c in cells))
    summary: dict[str, dict[str, Any]] = {}
    for n in names:
        missed = [int(s) for s, row in pooled.items() if not row[n]["in_peak"]]
        hits = len(pooled) - len(missed)
        summary[n] = {"in_peak": hits, "seeds": len(pooled), "missed": missed}
        miss = f" (misses {', '.join(map(str, missed))})" if missed else ""
        print(f"  {n:<18} in peak on {hits} of {len(pooled)} seeds{miss}")
    return summary


if __name__ == "__main__":
    main()
