"""What a send earns: the generator's behaviour model applied at the time an arm chose.

Given the real send time of each message, the same functions the generator
simulates with decide what happens: queue depth and ESP latency (top-of-hour
congestion, payload, channel caps), delivery or bounce, then engagement judged
at the *delivery* time — persona affinity, drifted rates, campaign fatigue
(the recipient's real sends in the window before), a hot-path boost. The
engine is never asked.

Two modelling choices beyond the generator (which never sends into a
suppression): a message sent while a circuit breaker suppresses its recipient
is counted (``suppressed``) and earns nothing — no open, no click, expected
clicks 0. ``expected_click`` is the model's probability of a click with the
noise at its mean (hot path and fatigue included): far less variance than the
drawn clicks.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sendflowr.experiment.design import Schedule
from sendflowr.generator.block import EVENT_CODES, EventBlock, concat_blocks, empty_block
from sendflowr.generator.engagement import (
    affinity_at,
    click_given_open,
    draw_engagement,
    fatigue_multiplier,
    hot_path_boost,
    open_probability,
)
from sendflowr.generator.esp_latency import queue_depth, sample_latency
from sendflowr.generator.model import HOUR_MS, MINUTE_MS, Model
from sendflowr.generator.truth import UserTruth
from sendflowr.timing.zones import table_for

__all__ = ["HOT_PATH_MINUTES", "Outcomes", "Responder"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
_CODE = {name: i for i, name in enumerate(EVENT_CODES)}
#: "sent within this many minutes after a hot path" (the issue's measure).
HOT_PATH_MINUTES = 30


@dataclass
class Outcomes:
    """Per fired send: what happened (arrays aligned with ``index``)."""

    index: I64  # row of the schedule
    send_ms: I64
    arrive_ms: I64
    delivered: B
    opened: B
    clicked: B
    expected_click: F64
    expected_open: F64
    suppressed: B  # sent while a circuit breaker suppressed the recipient
    after_hot_path: B  # sent within 30 minutes after a hot-path signal


class Responder:
    """Applies the behaviour model to fired sends, remembering each recipient's sends."""

    def __init__(self, model: Model, seed: int, truths: list[UserTruth]) -> None:
        self.model = model
        self.seed = seed
        self.truths = truths
        self._sent: dict[int, list[int]] = defaultdict(list)
        self._hot = [np.sort(np.array([m for _, m in t.hot_paths], dtype=np.int64)) for t in truths]
        self._batches = 0

    def respond(self, schedule: Schedule, index: I64, send_ms: I64) -> tuple[Outcomes, EventBlock]:
        """Outcomes of sending schedule rows ``index`` at ``send_ms``, and their events.

        Draws come from a stream seeded by the run's seed and this call's
        number, so a run is reproducible; call in time order.
        """
        model, world = self.model, self.model.world
        n = len(index)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xE7E7, self._batches]))
        self._batches += 1
        if n == 0:
            return _empty(), empty_block()
        users = schedule.user[index]
        provider, channel = schedule.provider[index], schedule.channel[index]
        payload = schedule.payload[index]
        depth = queue_depth(model, rng, send_ms, channel)
        latency = sample_latency(model, rng, send_ms, provider, payload, depth)
        arrive = send_ms + np.round(latency * 1000).astype(np.int64)
        delivered = rng.random(n) < world.delivery.delivered_rate
        bounce = np.where(rng.random(n) < world.delivery.hard_bounce_share, 1, 2)
        window = int(world.fatigue.window_hours * HOUR_MS)
        for u, t in sorted(zip(users.tolist(), send_ms.tolist(), strict=True), key=lambda p: p[1]):
            bisect.insort(self._sent[u], t)
        prior = np.array(
            [
                bisect.bisect_left(self._sent[u], t) - bisect.bisect_left(self._sent[u], a - window)
                for u, t, a in zip(users.tolist(), send_ms.tolist(), arrive.tolist(), strict=True)
            ],
            dtype=np.int64,
        )
        fatigue = fatigue_multiplier(model, np.maximum(prior, 0))
        since = np.full(n, np.nan)
        after_hot = np.zeros(n, dtype=bool)
        suppressed = np.zeros(n, dtype=bool)
        click_rate, open_rate, affinity = np.empty(n), np.empty(n), np.empty(n)
        for k, (u, t, a) in enumerate(
            zip(users.tolist(), send_ms.tolist(), arrive.tolist(), strict=True)
        ):
            truth, hot = self.truths[u], self._hot[u]
            j = int(np.searchsorted(hot, a, side="right")) - 1
            if j >= 0:
                since[k] = (a - int(hot[j])) / MINUTE_MS
            j = int(np.searchsorted(hot, t, side="right")) - 1
            after_hot[k] = j >= 0 and t - int(hot[j]) <= HOT_PATH_MINUTES * MINUTE_MS
            suppressed[k] = truth.suppressed_at(t)
            c, o = truth.rates_at(np.array([a]))
            click_rate[k], open_rate[k] = float(c[0]), float(o[0])
            # Persona habits are local: judge the arrival on the recipient's own clock.
            wall = np.array([a], dtype=np.int64)
            if truth.timezone != "UTC":
                wall = table_for(truth.timezone, wall).to_wall(wall)
            affinity[k] = float(affinity_at(model, truth.persona_index, wall)[0])
        mult = hot_path_boost(world, since) * fatigue
        drawn = draw_engagement(world, rng, affinity, open_rate, click_rate, mult)
        live = delivered & ~suppressed
        p_open = open_probability(world, affinity, open_rate, mult)
        p_click = p_open * click_given_open(click_rate, open_rate, mult)
        opened = live & drawn.opened
        clicked = live & drawn.clicked
        outcomes = Outcomes(
            index=index,
            send_ms=send_ms,
            arrive_ms=arrive,
            delivered=delivered,
            opened=opened,
            clicked=clicked,
            expected_click=np.where(live, p_click, 0.0),
            expected_open=np.where(live, p_open, 0.0),
            suppressed=suppressed,
            after_hot_path=after_hot,
        )
        open_ms = arrive + drawn.open_delay_ms
        click_ms = open_ms + drawn.click_delay_ms
        columns = {
            "users": users,
            "seq": schedule.seq[index],
            "campaign": schedule.campaign[index],
            "provider": provider,
            "channel": channel,
            "send": send_ms,
            "latency": latency,
            "depth": depth,
            "payload": payload,
            "bounce": bounce,
        }
        parts = [
            ("sent", np.ones(n, dtype=bool), send_ms),
            ("delivered", delivered, arrive),
            ("bounced", ~delivered, arrive),
            ("opened", opened, open_ms),
            ("clicked", clicked, click_ms),
        ]
        blocks = [_event_block(rng, name, mask, ts, columns) for name, mask, ts in parts]
        return outcomes, concat_blocks(blocks)


def _event_block(
    rng: np.random.Generator,
    name: str,
    mask: B,
    ts: I64,
    c: dict[str, npt.NDArray[np.generic]],
) -> EventBlock:
    k = int(mask.sum())
    code = _CODE[name]
    rand = rng.integers(0, np.iinfo(np.uint64).max, size=(2, k), dtype=np.uint64, endpoint=True)
    latency = np.asarray(c["latency"], dtype=np.float64)[mask]
    bounce = np.asarray(c["bounce"], dtype=np.int64)[mask]
    return EventBlock(
        user=np.asarray(c["users"], dtype=np.int64)[mask],
        etype=np.full(k, code, dtype=np.int64),
        ts=ts[mask],
        send_seq=np.asarray(c["seq"], dtype=np.int64)[mask],
        campaign=np.asarray(c["campaign"], dtype=np.int64)[mask],
        provider=np.asarray(c["provider"], dtype=np.int64)[mask],
        channel=np.asarray(c["channel"], dtype=np.int64)[mask],
        send_ms=np.asarray(c["send"], dtype=np.int64)[mask],
        latency=latency if name == "delivered" else np.full(k, np.nan),
        queue=np.asarray(c["depth"], dtype=np.int64)[mask],
        payload=np.asarray(c["payload"], dtype=np.int64)[mask],
        bounce=bounce if name == "bounced" else np.zeros(k, dtype=np.int64),
        rand_hi=rand[0],
        rand_lo=rand[1],
    )


def _empty() -> Outcomes:
    i = np.empty(0, dtype=np.int64)
    f = np.empty(0)
    b = np.empty(0, dtype=bool)
    return Outcomes(i, i, i, b, b, b, f, f, b, b)
