"""Which time zone does a recipient live in? Inferred from *when* they engage and browse.

Each recipient's engagement times (opens and clicks, one per message: the first)
and activity signals (site visits, SMS clicks, product views) are binned by
half hour of the day on the local clock of every candidate zone
(``CANDIDATES``: one IANA zone per distinct UTC offset and DST rule, −10:00 …
+13:00, +05:30 and −03:30 included; DST is applied at each event's date, so a
change in the middle of the history does not blur it). A recipient is a mixture
over (local activity shape k, zone z):

    P(k, z | times) ∝ π_k · ρ_z · Π_events shape_k[local half hour under z] ^ τ

The local shapes (``SHAPES`` of them: early and late risers, night owls,
round-the-clock) and the population's zone shares ρ are
fitted by EM over the recipients with enough evidence. When some recipients'
zones are known (stored on their events) they anchor it: their zone is fixed,
so the shapes are learned on real local clocks and ρ starts from the known
zones' shares. Without any, the shapes start from a generic day (awake
07:00–23:00) shifted by −2 … +4 hours (``SHIFTS``), a few pseudo-counts keep
them near there, and ρ concentrates on the zones the population actually lives in (a
night owl in New York looks like an early sleeper in Alaska until ρ says
nobody lives in Alaska).

``τ`` (``TEMPER``) tempers the likelihood: events of one person are not
independent draws (an open at 20:05 makes one at 20:40 likelier), and the
untempered posterior is far too sure. The confidence is the posterior mass of
the chosen zone's UTC offset at ``now`` (zones that agree there are one answer
for what a decision needs); it was calibrated on the shipped world with
hidden zones (``bench/timing_zones.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sendflowr.timing.zones import table_for

__all__ = ["CANDIDATES", "ZoneGuess", "infer_zones"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: One representative IANA zone per (UTC offset, DST rule) people live in.
CANDIDATES: tuple[str, ...] = (
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Phoenix",
    "America/Denver", "America/Chicago", "America/Mexico_City", "America/New_York",
    "America/Bogota", "America/Halifax", "America/St_Johns", "America/Sao_Paulo",
    "Atlantic/Azores", "UTC", "Europe/London", "Africa/Lagos", "Europe/Berlin",
    "Africa/Johannesburg", "Europe/Helsinki", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi",
    "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo",
    "Australia/Adelaide", "Australia/Brisbane", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip

BINS = 48  # half hours: +05:30 and −03:30 fall on a bin edge
#: local shapes: the generic day shifted by each of these hours (chronotypes), and a flat one
SHIFTS = (-2, -1, 0, 1, 2, 3, 4)
SHAPES = len(SHIFTS) + 1
TEMPER = 0.35
ROUNDS = 40
MIN_EVENTS = 10
#: pseudo-events per bin keeping each shape near its start (weighted by the shape)
SHAPE_PSEUDO = 2.0
#: most recipients the EM is fitted on (a seeded sample; all are scored after)
FIT_USERS = 4000

#: A generic day by hour: asleep 23:00–07:00, ramping up in the morning.
_DAY = np.array(
    [0.15, 0.06, 0.03, 0.02, 0.02, 0.04, 0.2, 0.6, 1.0, 1.0, 1.0, 1.0]
    + [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.8, 0.45]
)


@dataclass(frozen=True, slots=True)
class ZoneGuess:
    """An inferred zone: an IANA name from ``CANDIDATES``, how sure (0–1), and on what."""

    zone: str
    confidence: float
    events: int


def _start_shapes() -> F64:
    day = np.repeat(_DAY, BINS // 24)
    shapes = [np.roll(day, shift * BINS // 24) for shift in SHIFTS]
    shapes.append(np.ones(BINS))
    out = np.asarray(shapes, dtype=np.float64)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _local_bins(utc_minutes: I64, zone: str) -> I64:
    table = table_for(zone, utc_minutes * 60_000)
    wall = table.to_wall(utc_minutes * 60_000) // 60_000
    return np.asarray((wall % 1440) // (1440 // BINS), dtype=np.int64)


def _counts(user: I64, utc_minutes: I64, n_users: int) -> F64:
    """(zones, users, bins) local half-hour counts of each user's events under each zone."""
    out = np.empty((len(CANDIDATES), n_users, BINS))
    for z, zone in enumerate(CANDIDATES):
        flat = np.bincount(user * BINS + _local_bins(utc_minutes, zone), minlength=n_users * BINS)
        out[z] = flat.reshape(n_users, BINS)
    return out


def _smooth(shapes: F64) -> F64:
    out: F64 = 0.25 * np.roll(shapes, 1, axis=-1) + 0.5 * shapes + 0.25 * np.roll(shapes, -1, -1)
    return out


def _posterior(counts: F64, log_shape: F64, log_pi: F64, log_rho: F64) -> F64:
    """(users, shapes, zones) posterior of each user's (shape, zone)."""
    ll = np.einsum("zub,kb->ukz", counts, log_shape) * TEMPER
    ll += log_pi[None, :, None] + log_rho[None, None, :]
    ll -= ll.max(axis=(1, 2), keepdims=True)
    post = np.exp(ll)
    post /= post.sum(axis=(1, 2), keepdims=True)
    out: F64 = post
    return out


def _fit(counts: F64, known: I64) -> tuple[F64, F64, F64]:
    """EM: local shapes (K, bins), shape shares π (K,), zone shares ρ (Z,).

    ``known[u]`` is user u's candidate index when their zone is known, else −1.
    """
    z_count = len(CANDIDATES)
    start = _start_shapes()
    shapes = start.copy()
    pi: F64 = np.full(SHAPES, 1.0 / SHAPES)
    has = known >= 0
    rho: F64 = np.bincount(known[has], minlength=z_count).astype(np.float64) + 1.0
    rho /= rho.sum()
    fixed = np.zeros((int(has.sum()), z_count))
    fixed[np.arange(fixed.shape[0]), known[has]] = 1.0
    if not has.any():  # start ρ where one generic day puts people
        generic = np.log(start[SHIFTS.index(0)])[None, :]
        first = _posterior(counts, generic, np.zeros(1), np.log(rho))
        rho = first.sum(axis=(0, 1)) + 0.1
        rho /= rho.sum()
    for _ in range(ROUNDS):
        post = _posterior(counts, np.log(shapes), np.log(pi), np.log(rho))
        if has.any():  # a known zone is not a guess: only the shape is
            ll = np.einsum("ub,kb->uk", counts[known[has], np.flatnonzero(has)], np.log(shapes))
            resp = np.exp(TEMPER * ll - (TEMPER * ll).max(axis=1, keepdims=True)) * pi
            resp /= resp.sum(axis=1, keepdims=True)
            post[has] = resp[:, :, None] * fixed[:, None, :]
        local = np.einsum("ukz,zub->kb", post, counts)
        shapes = _smooth(local + SHAPE_PSEUDO * BINS * start)
        shapes /= shapes.sum(axis=1, keepdims=True)
        pi = post.sum(axis=(0, 2)) + 1.0
        pi /= pi.sum()
        rho = post.sum(axis=(0, 1)) + 0.1
        rho /= rho.sum()
    return shapes, pi, rho


def infer_zones(
    user: npt.ArrayLike,
    utc_minutes: npt.ArrayLike,
    n_users: int,
    now_minute: int,
    *,
    known: dict[int, str] | None = None,
    seed: int = 0,
) -> list[ZoneGuess | None]:
    """Each user's zone from the UTC epoch minutes of their engagements and activity.

    ``user[i]`` is the user (0 … ``n_users``−1) of event ``i``. ``known`` maps users
    whose zone is known (stored) to it; they anchor the fit and are not guessed.
    Users with fewer than ``MIN_EVENTS`` events, or known ones, get None.
    """
    users = np.asarray(user, dtype=np.int64)
    minutes = np.asarray(utc_minutes, dtype=np.int64)
    known = known or {}
    per_user = np.bincount(users, minlength=n_users)
    index = {zone: z for z, zone in enumerate(CANDIDATES)}
    anchor = np.full(n_users, -1, dtype=np.int64)
    for u, zone in known.items():
        anchor[u] = index.get(zone, -1)
    guess_me = (per_user >= MIN_EVENTS) & (anchor < 0)
    fit_me = np.flatnonzero((per_user >= MIN_EVENTS) | (anchor >= 0) & (per_user > 0))
    out: list[ZoneGuess | None] = [None] * n_users
    if not guess_me.any():
        return out
    rng = np.random.default_rng(seed)
    if fit_me.size > FIT_USERS:
        fit_me = np.sort(rng.choice(fit_me, FIT_USERS, replace=False))
    shapes, pi, rho = _fit(_subset_counts(users, minutes, fit_me), anchor[fit_me])
    offsets = np.array(
        [int(table_for(z, [now_minute * 60_000]).offset_at([now_minute * 60_000])[0]) for z in
         CANDIDATES]
    )  # fmt: skip
    same = offsets[:, None] == offsets[None, :]
    targets = np.flatnonzero(guess_me)
    # Events sorted by user once: each chunk of (ascending) targets reads only its own
    # span of events, so scoring every user costs one pass, not one pass per chunk.
    order = np.argsort(users, kind="stable")
    s_users, s_minutes = users[order], minutes[order]
    for chunk in np.array_split(targets, max(1, targets.size // 2000)):
        lo = int(np.searchsorted(s_users, chunk[0], side="left"))
        hi = int(np.searchsorted(s_users, chunk[-1], side="right"))
        counts = _subset_counts(s_users[lo:hi], s_minutes[lo:hi], chunk)
        post = _posterior(counts, np.log(shapes), np.log(pi), np.log(rho)).sum(axis=1)
        best = post.argmax(axis=1)
        conf = (post @ same.astype(np.float64))[np.arange(len(chunk)), best]
        for u, z, c in zip(chunk.tolist(), best.tolist(), conf.tolist(), strict=True):
            out[u] = ZoneGuess(CANDIDATES[z], round(float(min(c, 1.0)), 3), int(per_user[u]))
    return out


def _subset_counts(users: I64, minutes: I64, members: I64) -> F64:
    """``_counts`` of ``members`` only (rows in their order)."""
    pos = np.full(max(int(users.max(initial=-1)), int(members.max(initial=-1))) + 1, -1,
                  dtype=np.int64)  # fmt: skip
    pos[members] = np.arange(members.size)
    rows = pos[users] if users.size else users
    keep = rows >= 0
    return _counts(rows[keep], minutes[keep], members.size)
