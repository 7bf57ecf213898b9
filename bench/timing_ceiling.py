"""What can any engine learn from the generated history? Two ceilings, using the truth.

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

    python bench/timing_ceiling.py [--seed 42]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _figures import add_json_option, write_json
from _timing_common import load_history
from sendflowr.generator import model_for
from sendflowr.timing.grid import epoch_minute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    add_json_option(parser)
    args = parser.parse_args()
    h = load_history(args.seed)
    ev = h.engine().source.evidence(epoch_minute(h.now))
    model = model_for(h.world)
    world = h.world
    personas = world.personas
    of_user = {t.universal_id: t.persona_index for t in h.truths}
    label = np.asarray([of_user[u] for u in ev.universal_ids])
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

    print(f"seed {args.seed}: {ev.size} deliveries, {len(label)} users")
    print(
        f"{'persona':<16}{'peak minutes':>18}{'top-4 estimated':>20}{'hits':>6}{'z(peaks)':>10}"
        f"{'expected z':>12}"
    )
    figures: dict[str, Any] = {"seed": args.seed, "deliveries": int(ev.size), "personas": {}}
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

    # Bayes classifier with the generator's persona parameters.
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
    figures["bayes_recognised"] = {
        p.name: round(float(np.mean(best[label == i] == i)), 4) for i, p in enumerate(personas)
    }
    write_json(args.json, "timing_ceiling", figures)


if __name__ == "__main__":
    main()
