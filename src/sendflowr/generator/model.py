"""The world compiled into numpy lookup tables, shared by every simulated user.

Time is int64 milliseconds since the Unix epoch (UTC) throughout the generator;
``week_slot`` maps it to the engine's week grid (docs/engine.md) (slot 0 = Monday 00:00 UTC).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt

from sendflowr.generator.world import World

__all__ = [
    "CHANNEL_NAMES",
    "DAY_MS",
    "MINUTE_MS",
    "Model",
    "compile_world",
    "date_ms",
    "hour_minute_weekday",
    "week_slot",
]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_SLOTS = 10_080
CHANNEL_NAMES = ("email", "sms", "push")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def date_ms(day: date) -> int:
    """Milliseconds since the epoch of ``day`` 00:00 UTC."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def week_slot(ms: npt.ArrayLike) -> I64:
    """Minute-of-week slot (0 = Monday 00:00 UTC) of epoch milliseconds."""
    minutes = np.asarray(ms, dtype=np.int64) // MINUTE_MS
    # 1970-01-01 was a Thursday: slot 3 * 1440.
    return np.asarray((minutes + 3 * 1440) % WEEK_SLOTS, dtype=np.int64)


def hour_minute_weekday(ms: npt.ArrayLike) -> tuple[I64, I64, I64]:
    """Hour (0–23), minute (0–59) and weekday (0 = Monday) of epoch milliseconds."""
    slot = week_slot(ms)
    return (slot % 1440) // 60, slot % 60, slot // 1440


@dataclass(frozen=True, slots=True)
class Model:
    """Lookup tables derived from a ``World``; build with ``compile_world``."""

    world: World
    persona_names: tuple[str, ...]
    #: (personas, 10080): time affinity without noise (docs/behaviour-model.md "Engagement").
    affinity: F64
    #: per persona: the hours hot-path signals happen in (peak ∪ secondary, or all).
    active_hours: tuple[npt.NDArray[np.int64], ...]
    provider_names: tuple[str, ...]
    provider_channel: npt.NDArray[np.int64]
    provider_mu: F64
    provider_sigma: F64
    campaign_ids: tuple[str, ...]
    campaign_names: tuple[str, ...]
    campaign_types: tuple[str, ...]
    campaign_kb: F64
    campaign_p: F64
    #: (campaigns, providers): cumulative probability of each provider for a send.
    campaign_provider_cdf: F64
    sends_per_day: float
    fatigue: F64
    layout: npt.NDArray[np.int64]
    #: rank of user i among its persona's users within one block of ``len(layout)``.
    persona_rank: npt.NDArray[np.int64]
    #: per persona: a key from its name, so its users' random streams do not depend
    #: on which other personas the world has (see ``population.user_rng``).
    persona_keys: tuple[int, ...]
    #: IANA zones of the world's mix; per persona, the zone of its r-th user (mod length).
    zone_names: tuple[str, ...]
    zone_layouts: tuple[npt.NDArray[np.int64], ...]
    #: per campaign: True when its send window is read on the recipient's clock.
    campaign_local: npt.NDArray[np.bool_]
    #: (personas, 1441): cumulative "activity ms" over a local day at each minute
    #: boundary; the open delay runs on this clock (see ``Wakefulness``).
    wake_cum: F64
    #: (personas, 1440): activity ms per wall ms in each minute of the local day.
    wake_rate: F64

    def persona_index(self, name: str) -> int:
        """Index of the persona called ``name``."""
        return self.persona_names.index(name)


def _affinity_table(world: World) -> F64:
    eng = world.engagement
    table = np.zeros((len(world.personas), WEEK_SLOTS))
    for i, persona in enumerate(world.personas):
        hour_factor = np.full(24, eng.other)
        hour_factor[persona.hours("secondary")] = eng.secondary
        hour_factor[persona.hours("peak")] = eng.peak
        minute_factor = np.ones(60)
        minute_factor[list(persona.peak_minutes)] *= eng.peak_minute
        minute_factor[list(eng.edge_minutes)] *= eng.edge
        day = np.outer(hour_factor, minute_factor).reshape(1440)
        for weekday in persona.active_days:
            table[i, weekday * 1440 : (weekday + 1) * 1440] = day
    return table


def _layout(world: World) -> npt.NDArray[np.int64]:
    """Persona of user i (mod the world's user count), interleaved.

    Each persona keeps its exact count per block of ``sum(count)`` users, but
    personas are spread evenly along the block (largest deficit first), so
    any prefix of users — quick mode, ``--users 20`` — mixes personas.
    """
    counts = np.array([p.count for p in world.personas], dtype=np.float64)
    total = int(counts.sum())
    share = counts / total
    taken = np.zeros(len(counts))
    out = np.empty(total, dtype=np.int64)
    for i in range(total):
        deficit = share * (i + 1) - taken
        deficit[taken >= counts] = -np.inf
        k = int(np.argmax(deficit))
        out[i] = k
        taken[k] += 1
    return out


def persona_key(name: str) -> int:
    """A persona's stream key: CRC-32 of its name (stable across runs and worlds)."""
    return zlib.crc32(name.encode())


def _ranks(layout: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Rank of each position among the earlier positions of the same persona."""
    ranks = np.empty(len(layout), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, k in enumerate(layout.tolist()):
        ranks[i] = seen.get(k, 0)
        seen[k] = ranks[i] + 1
    return ranks


def _zone_layouts(world: World) -> tuple[npt.NDArray[np.int64], ...]:
    """Per persona: the zone of its r-th user (mod its count), the mix's shares, shuffled.

    Every persona gets the world's mix (largest remainders), shuffled by a fixed
    stream keyed by the persona's name (not the run's seed): a user's zone depends
    only on its persona and rank, so adding a persona to a world moves no one.
    """
    weights = np.array(list(world.timezones.mix.values()), dtype=np.float64)
    share = weights / weights.sum()
    out = []
    for persona in world.personas:
        exact = share * persona.count
        counts = np.floor(exact).astype(np.int64)
        for k in np.argsort(-(exact - counts), kind="stable")[: persona.count - int(counts.sum())]:
            counts[k] += 1
        layout = np.repeat(np.arange(len(weights), dtype=np.int64), counts)
        if len(weights) > 1:
            rng = np.random.default_rng([15, persona_key(persona.name)])
            layout = np.asarray(rng.permutation(layout), dtype=np.int64)
        out.append(layout)
    return tuple(out)


def _wakefulness(world: World) -> tuple[F64, F64]:
    """Per persona and local minute of day: how fast the open-delay clock runs.

    Asleep → 0 (nobody opens); awake → the persona's hour factor (peak,
    secondary, other), scaled so the awake minutes average 1 (an awake day
    keeps the exponential mean). No sleep hours and flat factors → exactly 1.
    """
    eng = world.engagement
    rate = np.ones((len(world.personas), 1440))
    for i, persona in enumerate(world.personas):
        hour = np.full(24, eng.other)
        hour[persona.hours("secondary")] = eng.secondary
        hour[persona.hours("peak")] = eng.peak
        awake = np.ones(24, dtype=bool)
        awake[list(persona.sleep_hours)] = False
        hour = np.where(awake, hour, 0.0)
        mean = float(hour[awake].mean()) if awake.any() else 0.0
        rate[i] = np.repeat(hour / mean if mean > 0 else awake.astype(np.float64), 60)
    cum = np.zeros((len(world.personas), 1441))
    cum[:, 1:] = np.cumsum(rate * MINUTE_MS, axis=1)
    return cum, rate


def compile_world(world: World) -> Model:
    """Build the lookup tables of ``world``."""
    providers = world.providers
    channel_code = np.array([CHANNEL_NAMES.index(p.channel) for p in providers], dtype=np.int64)
    weights = np.array([p.weight for p in providers])
    cdf = np.zeros((len(world.campaigns), len(providers)))
    for ci, camp in enumerate(world.campaigns):
        prob = np.zeros(len(providers))
        for ch in camp.channels:
            mask = channel_code == CHANNEL_NAMES.index(ch)
            prob[mask] += weights[mask] / weights[mask].sum() / len(camp.channels)
        cdf[ci] = np.cumsum(prob)
        cdf[ci, -1] = 1.0
    freq = np.array([c.sends_per_week for c in world.campaigns])
    active: list[npt.NDArray[np.int64]] = []
    for persona in world.personas:
        hours = sorted(set(persona.hours("peak")) | set(persona.hours("secondary")))
        active.append(np.array(hours or list(range(24)), dtype=np.int64))
    wake_cum, wake_rate = _wakefulness(world)
    layout = _layout(world)
    return Model(
        world=world,
        persona_names=tuple(p.name for p in world.personas),
        affinity=_affinity_table(world),
        active_hours=tuple(active),
        provider_names=tuple(p.name for p in providers),
        provider_channel=channel_code,
        provider_mu=np.array([p.latency_mu for p in providers]),
        provider_sigma=np.array([p.latency_sigma for p in providers]),
        campaign_ids=tuple(c.id for c in world.campaigns),
        campaign_names=tuple(c.id.replace("_", " ").title() for c in world.campaigns),
        campaign_types=tuple(c.type for c in world.campaigns),
        campaign_kb=np.array([c.avg_kb for c in world.campaigns]),
        campaign_p=freq / freq.sum(),
        campaign_provider_cdf=cdf,
        sends_per_day=float(freq.sum()) / 7.0,
        fatigue=np.array(world.fatigue.multipliers),
        layout=layout,
        persona_rank=_ranks(layout),
        persona_keys=tuple(persona_key(p.name) for p in world.personas),
        zone_names=tuple(world.timezones.mix),
        zone_layouts=_zone_layouts(world),
        campaign_local=np.array([c.send_in == "recipient" for c in world.campaigns]),
        wake_cum=wake_cum,
        wake_rate=wake_rate,
    )
