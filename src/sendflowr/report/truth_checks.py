"""The report's ground-truth section: the stored data against the generator's ``--truth`` file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from sendflowr.report import plots
from sendflowr.report.checks import Expectation, Section, judge
from sendflowr.store.access import Queryable

__all__ = ["load_truth", "truth_section"]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def load_truth(path: Path) -> list[dict[str, Any]]:
    """The truth file: JSON lines, one user a line."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def truth_section(store: Queryable, database: str, truth: list[dict[str, Any]]) -> Section:
    """Personas, suppressions, hot paths and rates of the truth, checked in the data."""
    per_user = store.query(
        "SELECT universal_id, any(JSONExtractString(metadata, 'persona')) AS persona, "
        "countIf(event_type = 'delivered') AS delivered, "
        "countIf(event_type = 'opened') AS opened, "
        "countIf(event_type IN ('site_visit', 'sms_click', 'product_view')) AS hot_paths "
        "FROM {db:Identifier}.email_events GROUP BY universal_id",
        {"db": database},
    )
    observed = {str(r[0]): (str(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in per_user.rows}
    sends = store.query(
        "SELECT universal_id, toUnixTimestamp64Milli(timestamp) AS ms "
        "FROM {db:Identifier}.email_events WHERE event_type = 'sent'",
        {"db": database},
    )
    send_ms: dict[str, list[int]] = {}
    for uid, ms in sends.rows:
        send_ms.setdefault(str(uid), []).append(int(ms))

    matched = inside = hot_truth = hot_seen = 0
    points = []
    for user in truth:
        uid = user["universal_id"]
        persona, delivered, opened, hot = observed.get(uid, ("", 0, 0, 0))
        matched += persona == user["persona"]
        times = np.array(send_ms.get(uid, []), dtype=np.int64)
        for window in user.get("suppressions", []):
            start, end = _ms(window["start"]), _ms(window["end"])
            inside += int(((times >= start) & (times < end)).sum())
        hot_truth += len(user.get("hot_paths", []))
        hot_seen += hot
        if delivered:
            rates = [m["open_rate"] for m in user.get("monthly", [])] or [np.nan]
            points.append((float(np.mean(rates)), opened / delivered, user["persona"]))
    scatter = pd.DataFrame(points, columns=["truth_open_rate", "observed_open_rate", "persona"])
    corr = (
        float(scatter["truth_open_rate"].corr(scatter["observed_open_rate"]))
        if len(scatter) > 2
        else float("nan")
    )
    users = len(truth)
    return Section(
        "truth",
        "Against the ground truth (--truth)",
        f"{users} users in the truth file. Each dot is a user: the open rate the generator "
        "gave the persona (mean over drift months) against the opens per delivered message "
        "stored. Opens come from the persona's time affinity as well as its base rate, so stored "
        "rates sit above the base rate; what must hold is the ordering.",
        plots.truth_scatter(scatter),
        scatter.groupby("persona")[["truth_open_rate", "observed_open_rate"]].mean().round(3),
        [
            Expectation(
                "truth users stored with their persona",
                f"{matched}/{users}",
                f"{users}/{users}",
                judge(matched == users, users > 0),
            ),
            Expectation(
                "sends inside the truth's suppression windows", f"{inside}", "0", judge(inside == 0)
            ),
            Expectation(
                "hot-path events stored vs truth",
                f"{hot_seen}/{hot_truth}",
                "equal",
                judge(hot_seen == hot_truth),
            ),
            Expectation(
                "truth open rate predicts stored open rate (Pearson r)",
                f"{corr:.2f}",
                "> 0.5",
                judge(corr > 0.5, len(scatter) >= 30),
            ),
        ],
    )
