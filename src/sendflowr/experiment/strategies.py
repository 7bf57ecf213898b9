"""The arms' strategies: when each decides a campaign send should go out.

A ``Strategy`` answers, for schedule rows sharing one window, the send time of
each (epoch ms) or -1 for "do not send". A ``live`` strategy is asked again
just before each of its sends fires (with the window starting then), the way a
client keeps a held decision current; the others fire at their first answer.

- ``FixedStrategy``: the campaign's scheduled time (what most senders do);
- ``HourlyStrategy``: the recipient's best hour from history, at :00 (what vendors do),
  from an ``EngagementHistory`` it may only query like any client;
- ``EngineStrategy``: SendFlowr's decision through the inference API
  (``POST /timing-decisions``, one call per provider and campaign type);
- ``OracleStrategy``: the best minute of the truth model (the ceiling);
- ``RandomStrategy``: a uniformly random minute (to check the instrument).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from sendflowr.errors import ServiceError
from sendflowr.experiment.design import Schedule
from sendflowr.generator.engagement import expected_click_probability
from sendflowr.generator.esp_latency import queue_depth, sample_latency
from sendflowr.generator.model import HOUR_MS, MINUTE_MS, Model
from sendflowr.generator.truth import UserTruth

__all__ = [
    "EngagementHistory",
    "EngineStrategy",
    "FixedStrategy",
    "HourlyStrategy",
    "OracleStrategy",
    "RandomStrategy",
    "Strategy",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class Strategy(Protocol):
    """Decides send times for one arm."""

    name: str
    #: asked again just before each send fires
    live: bool

    def prepare(self, now_ms: int) -> None:
        """Called at the start of each simulated day (refresh what it learns from)."""

    def decide(self, schedule: Schedule, index: I64, window: tuple[int, int], now_ms: int) -> I64:
        """Send time (epoch ms) of each schedule row in ``index``, or -1 for none."""
        ...


class FixedStrategy:
    """The campaign's scheduled time."""

    name, live = "fixed", False

    def prepare(self, now_ms: int) -> None:
        """Nothing to learn."""

    def decide(self, schedule: Schedule, index: I64, window: tuple[int, int], now_ms: int) -> I64:
        """Scheduled times, kept inside the window."""
        return np.clip(schedule.scheduled_ms[index], max(window[0], now_ms), window[1] - 1)


class RandomStrategy:
    """A uniformly random minute of the window, within ``minutes`` of the day when given
    (e.g. the world's send hours), seeded by the seed and the time of the call."""

    live = False

    def __init__(
        self, seed: int, name: str = "random", minutes: tuple[int, int] | None = None
    ) -> None:
        self.seed = seed
        self.name = name
        self.minutes = minutes

    def prepare(self, now_ms: int) -> None:
        """Nothing to learn."""

    def decide(self, schedule: Schedule, index: I64, window: tuple[int, int], now_ms: int) -> I64:
        """Random minutes."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x7A4D, now_ms]))
        first = max(window[0], now_ms)
        grid = np.arange(first - first % MINUTE_MS, window[1], MINUTE_MS, dtype=np.int64)
        if self.minutes is not None:
            of_day = (grid % (24 * HOUR_MS)) // MINUTE_MS
            inside = grid[(of_day >= self.minutes[0]) & (of_day <= self.minutes[1])]
            grid = inside if len(inside) else grid
        return np.maximum(grid[rng.integers(0, len(grid), len(index))], first)


class EngagementHistory(Protocol):
    """What a vendor's hourly STO reads: deliveries and engaged deliveries by hour of day."""

    def hour_counts(self, now_ms: int) -> dict[str, F64]:
        """universal_id → (2, 24): messages delivered in each UTC hour (row 0) and how many
        of them were opened or clicked (row 1), as far as known at ``now_ms``."""
        ...


class HourlyStrategy:
    """Each recipient's delivery hour with the best engagement rate, sent at :00.

    The rate is shrunk toward the whole audience's rate of the hour (``prior``
    pseudo-deliveries), so one lucky open does not decide. Learned at the first
    day and again every ``refresh_days``; a recipient with no history keeps the
    scheduled time (as vendors fall back).
    """

    name, live = "hourly", False

    def __init__(
        self,
        history: EngagementHistory,
        universal_ids: Sequence[str],
        refresh_days: int = 7,
        prior: float = 5.0,
    ) -> None:
        self.history = history
        self.universal_ids = list(universal_ids)
        self.refresh_ms = refresh_days * 24 * HOUR_MS
        self.prior = prior
        self._best: dict[str, int] = {}
        self._learned_at: int | None = None

    def prepare(self, now_ms: int) -> None:
        """Relearn the best hours when due."""
        if self._learned_at is not None and now_ms - self._learned_at < self.refresh_ms:
            return
        counts = self.history.hour_counts(now_ms)
        self._learned_at = now_ms
        if not counts:
            self._best = {}
            return
        total = np.sum(list(counts.values()), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            base = np.where(total[0] > 0, total[1] / total[0], 0.0)
        self._best = {
            uid: int(np.argmax((c[1] + self.prior * base) / (c[0] + self.prior)))
            for uid, c in counts.items()
            if c[0].sum() > 0
        }

    def best_hour(self, universal_id: str) -> int | None:
        """The learned best hour of a recipient (None: no history)."""
        return self._best.get(universal_id)

    def decide(self, schedule: Schedule, index: I64, window: tuple[int, int], now_ms: int) -> I64:
        """The best hour's :00 inside the window (the day of the window)."""
        first = max(window[0], now_ms)
        day0 = window[0] - window[0] % (24 * HOUR_MS)
        out = np.clip(schedule.scheduled_ms[index], first, window[1] - 1)
        for k, u in enumerate(schedule.user[index].tolist()):
            hour = self._best.get(self.universal_ids[u])
            if hour is None:
                continue
            at = day0 + hour * HOUR_MS
            if at < first:
                at += 24 * HOUR_MS
            if at < window[1]:
                out[k] = at
        return out


class OracleStrategy:
    """The minute the truth model rates best, sent ahead by the median latency.

    Minutes inside a circuit breaker's suppression (known to the truth) are
    never chosen; a window suppressed throughout is not sent.
    """

    name, live = "oracle", False

    def __init__(self, model: Model, truths: Sequence[UserTruth], seed: int) -> None:
        self.model = model
        self.truths = list(truths)
        self.seed = seed

    def prepare(self, now_ms: int) -> None:
        """The truth needs no learning."""

    def decide(self, schedule: Schedule, index: I64, window: tuple[int, int], now_ms: int) -> I64:
        """Best truth minutes, less the expected latency."""
        first = max(window[0], now_ms)
        first -= first % MINUTE_MS
        grid = np.arange(first, window[1], MINUTE_MS, dtype=np.int64)
        out = np.full(len(index), -1, dtype=np.int64)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x0AC1, first]))
        draws = 31
        for k, row in enumerate(index.tolist()):
            truth = self.truths[int(schedule.user[row])]
            p = np.array(expected_click_probability(self.model, truth, grid), dtype=np.float64)
            for _, start, end in truth.suppressions:
                p[(grid >= start - MINUTE_MS) & (grid < end)] = -1.0
            best = int(np.argmax(p))
            if p[best] < 0:
                continue
            target = int(grid[best])
            at = np.full(draws, target - MINUTE_MS, dtype=np.int64)
            provider = np.full(draws, schedule.provider[row], dtype=np.int64)
            channel = np.full(draws, schedule.channel[row], dtype=np.int64)
            payload = np.full(draws, schedule.payload[row], dtype=np.int64)
            depth = queue_depth(self.model, rng, at, channel)
            latency = float(
                np.median(sample_latency(self.model, rng, at, provider, payload, depth))
            )
            out[k] = max(first, target + 30_000 - round(latency * 1000))
        return out


class EngineStrategy:
    """SendFlowr's decisions through the inference API's batch endpoint.

    One ``POST /timing-decisions`` per provider of the wave (its median payload),
    recipients by universal_id; the answer's ``trigger_timestamp_utc`` is the
    send time, a recipient the engine skipped (suppressed) is not sent. Only
    the API is used: nothing of the engine's internals.
    """

    name, live = "sendflowr", True

    def __init__(
        self,
        client: httpx.Client,
        model: Model,
        universal_ids: Sequence[str],
        *,
        api_key: str | None = None,
        explore_share: float | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.universal_ids = list(universal_ids)
        self.headers = {"x-api-key": api_key} if api_key else {}
        self.explore_share = explore_share
        self.calls = 0
        self.skipped = 0

    def prepare(self, now_ms: int) -> None:
        """The engine learns by itself (from the stream the experiment feeds)."""

    def decide(self, schedule: Schedule, index: I64, window: tuple[int, int], now_ms: int) -> I64:
        """The engine's trigger times."""
        out = np.full(len(index), -1, dtype=np.int64)
        providers = schedule.provider[index]
        for provider in sorted(set(providers.tolist())):
            rows = np.flatnonzero(providers == provider)
            uids = [self.universal_ids[int(u)] for u in schedule.user[index[rows]]]
            triggers = self._call(
                sorted(set(uids)),
                window,
                now_ms,
                provider=self.model.provider_names[provider],
                channel=_CHANNELS[int(self.model.provider_channel[provider])],
                payload=int(np.median(schedule.payload[index[rows]])),
            )
            for r, uid in zip(rows.tolist(), uids, strict=True):
                out[r] = triggers.get(uid, -1)
        return out

    def _call(
        self,
        uids: list[str],
        window: tuple[int, int],
        now_ms: int,
        *,
        provider: str,
        channel: str,
        payload: int,
    ) -> dict[str, int]:
        body: dict[str, Any] = {
            "recipients": [{"universal_id": u} for u in uids],
            "send_after": _iso(max(window[0], now_ms)),
            "send_before": _iso(window[1]),
            "channel": channel,
            "provider": provider,
            "payload_size_bytes": payload,
        }
        if self.explore_share is not None:
            body["explore_share"] = self.explore_share
        self.calls += 1
        response = self.client.post("/timing-decisions", json=body, headers=self.headers)
        if response.status_code != 200:
            raise ServiceError(
                f"inference answered {response.status_code} to /timing-decisions: "
                f"{response.text[:300]}"
            )
        answer = response.json()
        self.skipped += len(answer.get("skipped", []))
        return {d["universal_id"]: _ms(d["trigger_timestamp_utc"]) for d in answer["decisions"]}


_CHANNELS = ("email", "sms", "push")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)
