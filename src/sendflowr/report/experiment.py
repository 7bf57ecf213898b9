"""The experiment's page: a self-contained HTML file with the arms, the lifts and their plots.

Written by ``sendflowr experiment --output DIR`` as ``DIR/experiment.html`` from the same
dict ``--json`` writes (``sendflowr.experiment.summarise``); plots are inline PNGs
(matplotlib, Agg), so the page opens offline.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from sendflowr.experiment.design import ARMS

__all__ = ["lift_plot", "persona_plot", "render", "write_page"]

_COLORS = {"fixed": "#888888", "hourly": "#e07b39", "sendflowr": "#3b6fb6", "oracle": "#4a9a5b"}


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _err(point: float | None, ci: list[float | None]) -> tuple[float, float, float]:
    p = point or 0.0
    lo, hi = ci[0] if ci[0] is not None else p, ci[1] if ci[1] is not None else p
    return p, max(p - lo, 0.0), max(hi - p, 0.0)


def lift_plot(results: dict[str, Any]) -> str:
    """Expected clicks per delivered by arm (95% CI), and each arm's lift vs fixed (base64 PNG)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, arm in enumerate(ARMS):
        a = results["arms"][arm]
        p, lo, hi = _err(a["expected_clicks_per_delivered"], a["ci95"])
        left.bar(i, p, color=_COLORS[arm])
        left.errorbar(i, p, yerr=[[lo], [hi]], color="black", capsize=5)
    left.set_xticks(range(len(ARMS)), ARMS)
    left.set_ylabel("expected clicks / delivered")
    left.set_title("by arm (95% CI)")
    arms = [a for a in ARMS if a != "fixed"]
    for i, arm in enumerate(arms):
        lift = results["lift_vs_fixed"][arm]
        p, lo, hi = _err(lift["ratio"], lift["ci95"])
        right.errorbar(i, p, yerr=[[lo], [hi]], fmt="o", color=_COLORS[arm], capsize=6)
    right.axhline(1.0, color="#999", ls="--", lw=1)
    right.set_xticks(range(len(arms)), arms)
    right.set_ylabel("ratio to fixed")
    right.set_title("lift vs fixed (95% CI)")
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def persona_plot(results: dict[str, Any]) -> str:
    """Expected clicks per delivered per persona and arm, with intervals (base64 PNG)."""
    personas = sorted(results.get("per_persona", {}))
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / len(ARMS)
    for j, arm in enumerate(ARMS):
        for i, name in enumerate(personas):
            a = results["per_persona"][name]["arms"][arm]
            p, lo, hi = _err(a["expected_clicks_per_delivered"], a["ci95"])
            x = i + (j - (len(ARMS) - 1) / 2) * width
            ax.bar(x, p, width, color=_COLORS[arm], label=arm if i == 0 else None)
            ax.errorbar(x, p, yerr=[[lo], [hi]], color="black", capsize=2, lw=0.8)
    ax.set_xticks(range(len(personas)), personas, rotation=15)
    ax.set_ylabel("expected clicks / delivered")
    ax.legend(ncol=4, fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def _f(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _ci(pair: list[float | None]) -> str:
    return f"[{_f(pair[0])}, {_f(pair[1])}]"


def _arms_table(results: dict[str, Any]) -> str:
    head = (
        "<tr><th>arm</th><th>sends</th><th>delivered</th><th>expected clicks / delivered</th>"
        "<th>95% CI</th><th>clicks / delivered</th><th>opens / delivered</th>"
        "<th>sends inside a suppression</th><th>≤ 30 min after a hot path</th>"
        "<th>cancelled</th><th>lift vs fixed</th><th>lift vs hourly</th>"
        "<th>share of oracle</th></tr>"
    )
    rows = []
    for arm in ARMS:
        a = results["arms"][arm]
        cells = [
            arm, str(a["sends"]), str(a["delivered"]), _f(a["expected_clicks_per_delivered"]),
            _ci(a["ci95"]), _f(a["clicks_per_delivered"]), _f(a["opens_per_delivered"]),
            str(a["suppressed_sends"]), str(a["sends_within_30_min_after_hot_path"]),
            str(a["cancelled"]),
        ]  # fmt: skip
        for key in ("lift_vs_fixed", "lift_vs_hourly", "share_of_oracle"):
            v = results[key].get(arm)
            cells.append("–" if v is None else f"{_f(v['ratio'], 3)} {_ci(v['ci95'])}")
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def render(results: dict[str, Any]) -> str:
    """The page's HTML."""
    config = html.escape(", ".join(f"{k}={v}" for k, v in results.get("config", {}).items()))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>SendFlowr closed-loop experiment</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:4px 8px;
text-align:right}}td:first-child{{text-align:left}}</style></head><body>
<h1>Closed-loop experiment</h1>
<p>{config}</p>
<p>Each campaign send was assigned (seeded) to one arm; what it earned comes from the behaviour
model at the time the arm chose. Rates are per delivered message; intervals are 95% bootstrap
intervals over recipients (paired across arms). A lift's interval excluding 1 is a real lift.</p>
<h2>Arms</h2>{_arms_table(results)}
<h2>Lift by arm</h2><img src="data:image/png;base64,{lift_plot(results)}" alt="lift by arm">
<h2>Per persona</h2><img src="data:image/png;base64,{persona_plot(results)}" alt="per persona">
</body></html>
"""


def write_page(results: dict[str, Any], folder: Path) -> Path:
    """Write ``folder/experiment.html``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "experiment.html"
    path.write_text(render(results), encoding="utf-8")
    return path
