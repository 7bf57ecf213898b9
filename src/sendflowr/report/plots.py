"""The fidelity report's plots, rendered with matplotlib (Agg) to PNG bytes."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = [
    "breakers",
    "dst_shift",
    "event_mix",
    "fatigue",
    "heatmaps",
    "hot_paths",
    "latency_by_minute",
    "local_hours",
    "truth_scatter",
]

_COLORS = {"email": "#3b6fb6", "sms": "#e07b39", "push": "#4a9a5b"}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def latency_by_minute(frame: pd.DataFrame) -> bytes:
    """Mean latency per send minute, one line per channel (log scale)."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for channel, group in frame.groupby("channel"):
        ax.plot(
            group["m"],
            group["mean"],
            marker=".",
            label=str(channel),
            color=_COLORS.get(str(channel)),
        )
    for m in (0, 15, 30, 45):
        ax.axvline(m, color="#999", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("minute of the send hour")
    ax.set_ylabel("mean latency (s, log)")
    ax.set_xlim(-1, 60)
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def heatmaps(frame: pd.DataFrame, personas: dict[str, dict[str, Any]]) -> bytes:
    """One hour × weekday open-rate map per persona, peak hours boxed."""
    names = list(personas) or sorted(frame["persona"].unique())
    cols = 3
    rows = max(1, int(np.ceil(len(names) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.6 * rows), squeeze=False)
    image = None
    for ax, name in zip(axes.flat, names, strict=False):
        sub = frame[frame["persona"] == name]
        grid = np.full((7, 24), np.nan)
        rates = sub["opened"].to_numpy(float) / sub["delivered"].to_numpy(float).clip(min=1)
        grid[sub["dow"].to_numpy(int), sub["hour"].to_numpy(int)] = rates
        image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=0.8)
        persona = personas.get(name, {})
        peaks = persona.get("peak_hours") or []
        days = persona.get("active_days", range(7))
        if peaks != "all":
            for d in days:
                for h in peaks:
                    ax.add_patch(
                        Rectangle((h - 0.5, d - 0.5), 1, 1, fill=False, ec="#ff4d4d", lw=0.9)
                    )
        ax.set_title(name, fontsize=9)
        ax.set_yticks(range(7), ["M", "T", "W", "T", "F", "S", "S"], fontsize=7)
        ax.set_xticks(range(0, 24, 3), [str(h) for h in range(0, 24, 3)], fontsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="opens per delivered")
    return _png(fig)


def fatigue(frame: pd.DataFrame) -> bytes:
    """Open rate by sends in the previous 24 h."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = ["3+" if p == 3 else str(p) for p in frame["prior_sends"]]
    ax.bar(labels, frame["open_rate"], color="#3b6fb6")
    ax.set_xlabel("sends in the previous 24 h")
    ax.set_ylabel("open rate")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def hot_paths(frame: pd.DataFrame) -> bytes:
    """Open rate by minutes since the latest hot-path event."""
    order = ["0-10 min", "10-20 min", "20-30 min", "none in 30 min"]
    frame = frame.set_index("since_hot_path").reindex(order)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(order, frame["open_rate"].fillna(0), color=["#d9534f", "#e88f6a", "#f0b79a", "#999"])
    for i, n in enumerate(frame["delivered"].fillna(0)):
        ax.annotate(
            f"n={int(n)}",
            (i, 0),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=8,
        )
    ax.set_ylabel("open rate")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def breakers(frame: pd.DataFrame, windows: dict[str, float]) -> bytes:
    """Sends per hour around each breaker type, with its suppression window shaded."""
    fig, axes = plt.subplots(1, len(windows), figsize=(12, 3), squeeze=False, sharey=True)
    for ax, (name, hours) in zip(axes.flat, windows.items(), strict=True):
        sub = frame[frame["breaker"] == name]
        ax.bar(sub["rel_hour"], sub["sends"], width=1.0, color="#3b6fb6")
        ax.axvspan(0, hours, color="#d9534f", alpha=0.15, label="suppressed")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("hours from the breaker event")
        ax.set_xlim(-72, 200)
    axes.flat[0].set_ylabel("sends")
    axes.flat[0].legend(fontsize=8)
    return _png(fig)


def event_mix(frame: pd.DataFrame) -> bytes:
    """Events by type, stacked by channel."""
    pivot = frame.pivot_table(index="event_type", columns="channel", values="events", fill_value=0)
    pivot = pivot.loc[pivot.sum(axis=1).sort_values().index]
    fig, ax = plt.subplots(figsize=(8, 4))
    left = np.zeros(len(pivot))
    for channel in pivot.columns:
        ax.barh(
            pivot.index,
            pivot[channel],
            left=left,
            label=str(channel),
            color=_COLORS.get(str(channel)),
        )
        left += pivot[channel].to_numpy()
    ax.set_xlabel("events")
    ax.legend()
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def truth_scatter(frame: pd.DataFrame) -> bytes:
    """Per user: the truth's open rate against the stored opens per delivered message."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for persona, group in frame.groupby("persona"):
        ax.scatter(group["truth_open_rate"], group["observed_open_rate"], s=12, label=str(persona))
    ax.plot([0, 0.8], [0, 0.8], color="#999", lw=0.8, ls=":")
    ax.set_xlabel("truth: persona open rate (drift-month mean)")
    ax.set_ylabel("stored: opens per delivered")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)


def local_hours(frame: pd.DataFrame, active: dict[str, set[int]]) -> bytes:
    """Opens by local hour, one small bar chart per persona, active hours in colour."""
    names = list(active) or sorted(frame["persona"].unique())
    cols = 3
    rows = max(1, int(np.ceil(len(names) / cols)))
    fig, axes = plt.subplots(
        rows, cols, figsize=(12, 2.5 * rows), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes.flat, names, strict=False):
        sub = frame[frame["persona"] == name]
        counts = np.zeros(24)
        counts[sub["hour"].to_numpy(int)] = sub["opens"].to_numpy(float)
        hot = active.get(name, set())
        colors = ["#3b6fb6" if h in hot else "#bbb" for h in range(24)]
        ax.bar(range(24), counts, width=0.9, color=colors)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(0, 24, 3), [str(h) for h in range(0, 24, 3)], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.supxlabel("local hour of the open (blue: the persona's active hours)", fontsize=9)
    return _png(fig)


def dst_shift(frames: dict[str, tuple[pd.DataFrame, Any, Any]], zone: str, change: str) -> bytes:
    """Left: ``zone``'s habit events per UTC day × hour, change marked. Right: the
    time-of-day profile two weeks before and after, per zone, peaks marked."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), width_ratios=[1.1, 1])
    frame = frames[zone][0]
    days = sorted(frame["day"].unique())
    grid = np.zeros((len(days), 24))
    index = {d: i for i, d in enumerate(days)}
    for day, quarter, n in zip(frame["day"], frame["quarter"], frame["events"], strict=True):
        grid[index[day], int(quarter) // 4] += float(n)
    left.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    if change in index:
        left.axhline(index[change] - 0.5, color="#ff4d4d", lw=1.2, label=f"DST change {change}")
        left.legend(fontsize=8, loc="lower right")
    ticks = list(range(0, len(days), max(1, len(days) // 8)))
    left.set_yticks(ticks, [days[i] for i in ticks], fontsize=7)
    left.set_xticks(range(0, 24, 3), [str(h) for h in range(0, 24, 3)], fontsize=7)
    left.set_xlabel("UTC hour")
    left.set_title(f"{zone}: habit events per day", fontsize=9)
    x = np.arange(96) / 4
    styles = {0: "-", 1: "--"}
    for k, (name, (_, before, after)) in enumerate(frames.items()):
        for profile, label, color in ((before, "before", "#3b6fb6"), (after, "after", "#e07b39")):
            ax_color = color if k == 0 else ("#7fa7d9" if label == "before" else "#f0b79a")
            right.plot(x, profile, ls=styles.get(k, ":"), color=ax_color, label=f"{name} {label}")
            peak = float(x[int(np.argmax(profile))])
            right.axvline(peak, color=ax_color, lw=0.7, ls=":")
    right.set_xlabel("UTC time of day (h); dotted lines: each profile's peak")
    right.set_ylabel("share of events (smoothed)")
    right.set_xlim(0, 24)
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    return _png(fig)
