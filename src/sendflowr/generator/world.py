"""The generator's world: personas, campaigns, providers and behaviour constants as data.

The shipped world (``sendflowr/resources/world.json``) holds every constant of
docs/behaviour-model.md with its source; ``--world FILE`` replaces it. ``load_world`` parses and
validates a file and raises ``ConfigError(option="--world")`` with the path of
the first bad value, so a broken file gives a one-line error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from sendflowr.errors import ConfigError

__all__ = [
    "Campaign",
    "Persona",
    "Provider",
    "TimeZones",
    "World",
    "default_world",
    "load_world",
    "parse_world",
]

_Prob = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
_Pos = Annotated[float, msgspec.Meta(gt=0.0)]
_NonNeg = Annotated[float, msgspec.Meta(ge=0.0)]
_Hour = Annotated[int, msgspec.Meta(ge=0, le=23)]
_Minute = Annotated[int, msgspec.Meta(ge=0, le=59)]
_Day = Annotated[int, msgspec.Meta(ge=0, le=6)]
_Channel = Literal["email", "sms", "push"]
_Range = Annotated[list[_NonNeg], msgspec.Meta(min_length=2, max_length=2)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class Persona(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A behaviour archetype; ``"all"`` stands for every hour."""

    name: _Name
    count: Annotated[int, msgspec.Meta(ge=0)]
    peak_hours: list[_Hour] | Literal["all"]
    peak_minutes: list[_Minute]
    secondary_hours: list[_Hour] | Literal["all"]
    active_days: list[_Day]
    click_rate: _Prob
    open_rate: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
    drift: _Prob
    #: local hours the persona sleeps through (opens wait for them to wake); none by default.
    sleep_hours: list[_Hour] = msgspec.field(default_factory=list)

    def hours(self, which: Literal["peak", "secondary"]) -> list[int]:
        """Peak or secondary hours with ``"all"`` expanded."""
        value = self.peak_hours if which == "peak" else self.secondary_hours
        return list(range(24)) if value == "all" else list(value)


class Provider(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An ESP/SMS/push provider: latency seconds ~ lognormal(mu, sigma)."""

    name: _Name
    channel: _Channel
    weight: _Pos
    latency_mu: float
    latency_sigma: _NonNeg


class Campaign(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A campaign: how often it is sent, its type, size and channels."""

    id: _Name
    sends_per_week: _NonNeg
    type: _Name
    avg_kb: _Pos
    channels: Annotated[list[_Channel], msgspec.Meta(min_length=1)]
    #: whose clock the send window (``sends``) is read on: the sender's zone or the recipient's.
    send_in: Literal["sender", "recipient"] = "sender"


class History(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    start: date
    end: date
    users: Annotated[int, msgspec.Meta(ge=1)]


class Sends(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    first_minute: Annotated[int, msgspec.Meta(ge=0, le=1439)]
    last_minute: Annotated[int, msgspec.Meta(ge=0, le=1439)]
    max_per_day: Annotated[int, msgspec.Meta(ge=0)]


class Payload(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    jitter: _Prob
    non_email_kb: _Pos


class Tier(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    over: _NonNeg
    range: _Range


class Latency(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    top_of_hour_minutes: list[_Minute]
    top_of_hour_email: _Range
    top_of_hour_other: _Range
    quarter_minutes: list[_Minute]
    quarter: _Range
    rush_hours: list[_Hour]
    rush_email: _Range
    rush_other: _Range
    weekend_days: list[_Day]
    weekend: _Pos
    night_hours: list[_Hour]
    night: _Pos
    payload_tiers: list[Tier]
    queue_tiers: list[Tier]
    jitter: _Range
    caps: dict[_Channel, _Pos]


class Queue(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base: dict[_Channel, _Pos]
    top_of_hour_email: _Range
    top_of_hour_other: _Range
    quarter: _Range
    rush: _Range
    weekend: _Pos
    night: _Pos
    cap: Annotated[int, msgspec.Meta(ge=1)]


class Delivery(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    delivered_rate: _Prob
    hard_bounce_share: _Prob


class Engagement(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    peak: _NonNeg
    secondary: _NonNeg
    other: _NonNeg
    peak_minute: _NonNeg
    edge_minutes: list[_Minute]
    edge: _NonNeg
    noise: _Range
    affinity_open: _Prob
    open_delay_mean_minutes: _Pos
    open_delay_cap_minutes: _Pos
    click_delay_minutes: _Range


class Fatigue(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    window_hours: _Pos
    multipliers: Annotated[list[_NonNeg], msgspec.Meta(min_length=1)]


class HotPaths(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    daily_probability: _Prob
    types: Annotated[
        list[Literal["site_visit", "sms_click", "product_view"]], msgspec.Meta(min_length=1)
    ]
    window_minutes: _Pos
    decay_minutes: _Pos


class CircuitBreakers(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    daily_probability: _Prob
    hours: dict[Literal["support_ticket", "complaint", "unsubscribe_request"], _Pos]


class Drift(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    click_bounds: _Range
    open_bounds: _Range


class TimeZones(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where recipients live and whose clock governs sends and opens.

    ``mix`` maps IANA zones to weights (recipients are assigned in those
    shares); ``sender_zone`` is the clock of campaigns with ``send_in:
    "sender"``; ``open_delay`` is ``"wakefulness"`` (the delay runs on the
    person's local activity clock: stopped while asleep, faster in active
    hours) or ``"exponential"`` (independent of the clock). The defaults are
    the world before time zones: everyone in UTC, exponential delay.
    """

    mix: dict[str, _Pos] = msgspec.field(default_factory=lambda: {"UTC": 1.0})
    sender_zone: str = "UTC"
    open_delay: Literal["exponential", "wakefulness"] = "exponential"


class World(_Strict, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the simulation needs, validated (see ``world.json``)."""

    name: str
    description: str = ""
    history: History
    sends: Sends
    personas: Annotated[list[Persona], msgspec.Meta(min_length=1)]
    providers: Annotated[list[Provider], msgspec.Meta(min_length=1)]
    campaigns: Annotated[list[Campaign], msgspec.Meta(min_length=1)]
    payload: Payload
    latency: Latency
    queue: Queue
    delivery: Delivery
    engagement: Engagement
    fatigue: Fatigue
    hot_paths: HotPaths
    circuit_breakers: CircuitBreakers
    drift: Drift
    timezones: TimeZones = msgspec.field(default_factory=TimeZones)
    sources: dict[str, str] = msgspec.field(default_factory=dict)


def _check(world: World) -> None:
    """Cross-field rules msgspec's per-field constraints cannot express."""

    def fail(where: str, why: str) -> None:
        raise ConfigError(f"invalid world file: {where}: {why}", option="--world")

    for group, items in (
        ("personas", [p.name for p in world.personas]),
        ("providers", [p.name for p in world.providers]),
        ("campaigns", [c.id for c in world.campaigns]),
    ):
        if len(set(items)) != len(items):
            fail(group, "names must be unique")
    if sum(p.count for p in world.personas) == 0:
        fail("personas", "at least one persona needs count > 0")
    if world.history.end <= world.history.start:
        fail("history.end", "must be after history.start")
    if world.sends.last_minute < world.sends.first_minute:
        fail("sends.last_minute", "must not be before sends.first_minute")
    channels = {p.channel for p in world.providers}
    for i, c in enumerate(world.campaigns):
        for ch in c.channels:
            if ch not in channels:
                fail(f"campaigns[{i}].channels", f"no provider serves channel {ch!r}")
    if sum(c.sends_per_week for c in world.campaigns) <= 0:
        fail("campaigns", "sends_per_week must not all be 0")
    for ch in channels:
        if ch not in world.latency.caps:
            fail("latency.caps", f"missing channel {ch!r}")
        if ch not in world.queue.base:
            fail("queue.base", f"missing channel {ch!r}")
    _check_zones(world, fail)
    for name in ("click_bounds", "open_bounds"):
        lo, hi = getattr(world.drift, name)
        if lo > hi or hi > 1:
            fail(f"drift.{name}", "must be [low, high] within [0, 1]")
    ranges = [
        ("latency.jitter", world.latency.jitter),
        ("engagement.noise", world.engagement.noise),
        ("engagement.click_delay_minutes", world.engagement.click_delay_minutes),
    ]
    for where, (lo, hi) in ranges:
        if lo > hi:
            fail(where, "low end above high end")


def _check_zones(world: World, fail: Callable[[str, str], None]) -> None:
    # Imported here: the timing package reads its parameters from this module.
    from sendflowr.timing.zones import is_zone

    tz = world.timezones
    if not tz.mix:
        fail("timezones.mix", "needs at least one zone")
    for name in [*tz.mix, tz.sender_zone]:
        if not is_zone(name):
            where = "timezones.sender_zone" if name == tz.sender_zone else "timezones.mix"
            fail(where, f"unknown time zone {name!r}")
    for i, p in enumerate(world.personas):
        if len(set(p.sleep_hours)) >= 24:
            fail(f"personas[{i}].sleep_hours", "a persona must be awake some hour")
        clash = set(p.sleep_hours) & set(p.hours("peak"))
        if clash:
            fail(f"personas[{i}].sleep_hours", f"overlaps peak hours {sorted(clash)}")


def parse_world(data: bytes, *, origin: str = "world") -> World:
    """Decode and validate world JSON; errors name the bad field's path."""
    try:
        world = msgspec.json.decode(data, type=World)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid world file {origin}: {exc}", option="--world") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{origin} is not valid JSON: {exc}", option="--world") from exc
    _check(world)
    return world


def load_world(path: Path | str | None = None) -> World:
    """The world in ``path``, or the shipped default when ``path`` is None."""
    if path is None:
        return default_world()
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror}", option="--world") from exc
    return parse_world(data, origin=str(p))


_DEFAULT: World | None = None


def default_world() -> World:
    """The world shipped with the package (parsed once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        data = resources.files("sendflowr.resources").joinpath("world.json").read_bytes()
        _DEFAULT = parse_world(data, origin="world.json")
    return _DEFAULT
