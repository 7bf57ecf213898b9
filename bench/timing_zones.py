"""Time zones in the timing engine: zone inference, and decisions around DST changes.

Loads the generated history (the shipped, time-zoned world by default) into an
in-process chDB, as ``timing_quality.py`` does, and scores decisions with the
generator's own model (``timing_quality.score``: peak-hour share on the local
clock, % of the oracle).

1. **Zone inference** (always): the zones the events carry are hidden from the
   engine (all but ``--share`` of users), which infers each recipient's zone from
   when they open, click and browse. Printed for users with ≥ 10 engagements (messages
   opened or clicked): the share whose inferred UTC offset at decision time is
   right, within an hour, the share confident enough to be used (≥ 0.6) and the
   calibration (confidence bins → accuracy). Then peak-hour share and % of the
   oracle deciding with the stored zones and with the inferred ones.
2. **DST changes** (``--dst``): for each DST change inside the history, decide
   with the history up to the decision: the week before the change, and the week
   starting at it. Per window: every user, the users whose zone changes there, and
   the users of no-DST zones (Tokyo, Kolkata) as the control with the same history
   length. ``--extend-to DATE`` generates a longer history (e.g. 2026-03-22, so the
   US spring change of 2026-03-08 falls after 5 months of history).

    python bench/timing_zones.py [--seed 42] [--world FILE] [--dst] [--extend-to 2026-03-22]
                                 [--share 0.5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing_common import History, load_history, world_option
from sendflowr.clock import ManualClock
from sendflowr.generator import default_world, load_world
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.role import curve_config
from sendflowr.timing.sources import MIN_INFER_CONFIDENCE, StoreSource
from sendflowr.timing.zone_inference import infer_zones
from sendflowr.timing.zones import table_for
from timing_quality import score, summarise


def _offset(zone: str, minute: int) -> int:
    return int(table_for(zone, [minute * 60_000]).offset_at([minute * 60_000])[0]) // 60_000


def _engine(h: History, now: datetime, *, hide: bool, share: float = 1.0) -> TimingEngine:
    assert h.latency is not None
    source: StoreSource = StoreSource(h.store, hide_zones=hide)
    if hide and share > 0.0:
        source = _PartlyHidden(h, share)
    return TimingEngine(source, MemoryExplanations(), h.latency, config=curve_config(h.settings),
                        clock=ManualClock(now), refresh_seconds=1e12)  # fmt: skip


class _PartlyHidden(StoreSource):
    """A store source that knows only ``share`` of the users' zones (a seeded choice)."""

    def __init__(self, h: History, share: float) -> None:
        super().__init__(h.store)
        rng = np.random.default_rng(7)
        ids = sorted(t.universal_id for t in h.truths)
        self.hidden = {u for u in ids if rng.random() >= share}

    def stored_zones(
        self, now_minute: int, universal_ids: Sequence[str] | None = None
    ) -> dict[str, str]:
        stored = super().stored_zones(now_minute, universal_ids)
        return {u: z for u, z in stored.items() if u not in self.hidden}


def inference(h: History, now: datetime, share: float) -> dict[str, Any]:
    """Accuracy and calibration of inferred zones (users with ≥ 10 engagements)."""
    source = StoreSource(h.store)
    minute = epoch_minute(now)
    evidence = source.utc_evidence(minute)
    engaged = source.engaged(evidence, minute)
    truth = {t.universal_id: t.timezone for t in h.truths}
    known: dict[int, str] = {}
    if share > 0:
        partly = _PartlyHidden(h, share)
        known = {i: truth[u] for i, u in enumerate(evidence.universal_ids)
                 if u in truth and u not in partly.hidden}  # fmt: skip
    n_users = len(evidence.universal_ids)
    idx = np.concatenate([engaged[0], evidence.activity_index])
    mins = np.concatenate([engaged[1], evidence.activity_minute])
    cpu, wall = time.process_time(), time.perf_counter()
    guesses = infer_zones(idx, mins, n_users, minute, known=known)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    counts = np.bincount(engaged[0], minlength=n_users)
    persona = {t.universal_id: t.persona for t in h.truths}
    by: dict[str, list[bool]] = defaultdict(list)
    rows = []
    for i, uid in enumerate(evidence.universal_ids):
        g = guesses[i]
        if counts[i] < 10 or uid not in truth or i in known:
            continue
        actual = _offset(truth[uid], minute)
        got = _offset(g.zone, minute) if g is not None else None
        conf = g.confidence if g is not None else 0.0
        rows.append((got == actual, got is not None and abs(got - actual) <= 60, conf))
        by[persona[uid]].append(rows[-1][0])
        by[truth[uid]].append(rows[-1][0])
    v = np.asarray(rows, dtype=float).reshape(-1, 3)
    used = v[:, 2] >= MIN_INFER_CONFIDENCE
    bins = [(0.0, 0.6), (0.6, 0.8), (0.8, 0.95), (0.95, 1.01)]
    calib = []
    for lo, hi in bins:
        sel = (v[:, 2] >= lo) & (v[:, 2] < hi)
        if sel.any():
            calib.append({"from": lo, "to": min(hi, 1.0), "users": int(sel.sum()),
                          "mean_confidence": round(float(v[sel, 2].mean()), 3),
                          "right": round(float(v[sel, 0].mean()), 3)})  # fmt: skip
    return {
        "users": len(v),
        "known_zones": len(known),
        "right": round(float(v[:, 0].mean()), 4),
        "within_1h": round(float(v[:, 1].mean()), 4),
        "used": round(float(used.mean()), 4),
        "right_if_used": round(float(v[used, 0].mean()), 4) if used.any() else None,
        "calibration": calib,
        "right_by": {k: round(float(np.mean(v)), 3) for k, v in by.items()},
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 3),
    }


def _figures(h: History, now: datetime, engine: TimingEngine, who: set[str] | None = None) -> Any:
    """``summarise`` of the decisions for ``who`` (default: everyone)."""
    rows, skipped = score(h, engine, now, live_context=False)
    if who is not None:
        # Without live context nobody is skipped: rows follow h.truths within each persona.
        assert skipped == 0
        keep: dict[str, list[tuple[float, ...]]] = {}
        for name, values in rows.items():
            members = [t.universal_id for t in h.truths if t.persona == name]
            keep[name] = [r for r, u in zip(values, members, strict=True) if u in who]
        rows = {k: v for k, v in keep.items() if v}
    return summarise(h, defaultdict(list, rows), skipped)


def _line(label: str, s: dict[str, Any]) -> str:
    peaks = [v["peak_share"] for v in s["personas"].values() if v["peak_share"] is not None]
    users = [v["users"] for v in s["personas"].values() if v["peak_share"] is not None]
    share = float(np.average(peaks, weights=users)) if users and sum(users) else float("nan")
    o = s["overall"]
    per = " ".join(
        f"{name[:7]} {v['peak_share']:.0%}" for name, v in s["personas"].items()
        if v["peak_share"] is not None
    )  # fmt: skip
    return (f"  {label:<34} n={o['users']:>3}  peak-hour {share:6.1%}  {o['pct_oracle']:5.1f}% "
            f"of oracle  {o['x_random']:.2f}× random   [{per}]")  # fmt: skip


def dst_changes(h: History, zones: set[str]) -> list[tuple[datetime, list[str]]]:
    """Each UTC instant (to the minute) inside the history at which some zone changes offset."""
    start = datetime.combine(h.world.history.start, datetime.min.time(), UTC)
    end = datetime.combine(h.world.history.end, datetime.min.time(), UTC)
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    found: dict[datetime, list[str]] = {}
    for zone in sorted(zones):
        table = table_for(zone, [lo, hi])
        for ms in table.change_ms.tolist():
            if lo < ms < hi:
                at = datetime.fromtimestamp(ms / 1000, UTC)
                found.setdefault(at, []).append(zone)
    return sorted(found.items())


def dst(h: History) -> dict[str, Any]:
    """Decide the week before and the week from each DST change, history up to then."""
    zone_of = {t.universal_id: t.timezone for t in h.truths}
    fixed = {u for u, z in zone_of.items() if table_for(z, [0]).fixed or _no_dst(z)}
    out: dict[str, Any] = {}
    for at, zones in dst_changes(h, set(zone_of.values())):
        day = datetime(at.year, at.month, at.day, tzinfo=UTC)
        movers = {u for u, z in zone_of.items() if z in zones}
        print(f"DST change {at:%Y-%m-%d %H:%M} UTC ({', '.join(zones)}):")
        for label, now in (("week before", day - timedelta(days=7)), ("week from", day)):
            engine = h.engine(now=now)
            figs = {
                "all": _figures(h, now, engine),
                "changing zone": _figures(h, now, engine, movers),
                "no-DST zones": _figures(h, now, engine, fixed),
            }
            days = (now - datetime.combine(h.world.history.start, datetime.min.time(), UTC)).days
            for who, s in figs.items():
                print(_line(f"{label} {now:%m-%d} ({days} d history), {who}", s))
            out[f"{at:%Y-%m-%d} {label}"] = {k: v["overall"] | {"personas": v["personas"]}
                                             for k, v in figs.items()}  # fmt: skip
    return out


def _no_dst(zone: str) -> bool:
    probe = [int(datetime(2025, m, 1, tzinfo=UTC).timestamp() * 1000) for m in (1, 7)]
    offsets = table_for(zone, probe).offset_at(probe)
    return bool(offsets[0] == offsets[1])


def _world_to(world: Path | None, end: date) -> Path:
    base = load_world(world) if world is not None else default_world()
    data = msgspec.to_builtins(base)
    data["history"]["end"] = end.isoformat()
    path = Path(tempfile.mkdtemp(prefix="sendflowr-zones-")) / "world.json"
    path.write_text(json.dumps(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--world", type=world_option, default=None, help="generator world file")
    parser.add_argument("--extend-to", type=date.fromisoformat, default=None, metavar="DATE",
                        help="generate the history up to DATE (e.g. 2026-03-22)")  # fmt: skip
    parser.add_argument(
        "--share", type=float, default=0.0, help="share of users whose zone stays known"
    )
    parser.add_argument("--dst", action="store_true", help="decide around each DST change")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    world = _world_to(args.world, args.extend_to) if args.extend_to else args.world
    h = load_history(args.seed, world)
    print(f"seed {args.seed}, world {h.world.name}, history {h.world.history.start} → "
          f"{h.world.history.end}, decided {h.now:%Y-%m-%d}")  # fmt: skip
    result: dict[str, Any] = {}
    inf = inference(h, h.now, args.share)
    result["inference"] = inf
    print(f"zone inference, users with >= 10 engagements (n={inf['users']}, "
          f"{inf['known_zones']} zones known): offset right {inf['right']:.1%}, within an "
          f"hour {inf['within_1h']:.1%}; confident enough to use (>= {MIN_INFER_CONFIDENCE}) "
          f"{inf['used']:.1%}, right among those {inf['right_if_used'] or 0:.1%}; "
          f"{inf['cpu_seconds']:.2f} s CPU")  # fmt: skip
    print(
        "  right by persona and zone: "
        + ", ".join(f"{k} {v:.0%}" for k, v in inf["right_by"].items())
    )
    for c in inf["calibration"]:
        print(f"  confidence {c['from']:.2f}–{c['to']:.2f}: {c['users']:>3} users, mean "
              f"{c['mean_confidence']:.2f}, right {c['right']:.1%}")  # fmt: skip
    stored = summarise(h, *score(h, h.engine(), h.now, live_context=False))
    engine = _engine(h, h.now, hide=True, share=args.share)
    hidden = summarise(h, *score(h, engine, h.now, live_context=False))
    result["stored"], result["inferred"] = stored, hidden
    print("decisions for the week after the history, every user:")
    print(_line("stored zones", stored))
    print(_line("zones hidden (inferred)", hidden))
    if args.dst:
        result["dst"] = dst(h)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    h.drop()


if __name__ == "__main__":
    main()
