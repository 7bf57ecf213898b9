"""Exploration: a seeded share of decisions tries a plausible minute the evidence has not settled.

Always sending at the current best minute never tests the others, so a curve
that is wrong stays wrong. A share of decisions (``DEFAULT_EXPLORE_SHARE``,
settable; 0 turns it off) goes instead to a minute that is

- plausible for the recipient: its own curve there is at least
  ``PLAUSIBLE`` of its best in the window (never a suppressed minute);
- not already favoured: below ``FAVOURED`` of its best, i.e. where the
  recipient's own evidence has not confirmed it (what exploiting would pick);
- near the top of the prior: among those, a minute whose prior (the global
  curve) is within ``NEAR_TOP`` of the best such prior value.

Who explores and where is a pure function of (seed, recipient, window,
channel, campaign type): the same request gives the same decisions.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_EXPLORE_SHARE",
    "FAVOURED",
    "NEAR_TOP",
    "PLAUSIBLE",
    "draws",
    "exploration_choices",
]

#: Share of decisions that explore when a request or the settings say nothing else.
DEFAULT_EXPLORE_SHARE: Final = 0.03
PLAUSIBLE: Final = 0.6
FAVOURED: Final = 0.9
NEAR_TOP: Final = 0.8
_SCALE: Final = float(2**64)

FloatArray = npt.NDArray[np.float64]


def draws(universal_ids: list[str], seed: int, salt: str) -> npt.NDArray[np.float64]:
    """Two uniform [0, 1) draws per recipient, ``(n, 2)``: whether to explore, and where.

    ``salt`` carries the request (window, channel, campaign type), so a recipient
    explores in some requests and not in others, deterministically.
    """
    out = np.empty((len(universal_ids), 2))
    prefix = f"{seed}|{salt}|".encode()
    for i, uid in enumerate(universal_ids):
        digest = hashlib.blake2b(prefix + uid.encode(), digest_size=16).digest()
        out[i, 0] = int.from_bytes(digest[:8], "big") / _SCALE
        out[i, 1] = int.from_bytes(digest[8:], "big") / _SCALE
    return out


def exploration_choices(values: FloatArray, prior: FloatArray) -> npt.NDArray[np.int64]:
    """The candidates one recipient may explore (empty when none qualifies).

    ``values``: the recipient's (context-adjusted) curve over the window's
    candidates; ``prior``: the global curve over the same candidates. A draw
    picks one of them (``choices[int(draw * len(choices))]``).
    """
    best = float(values.max()) if values.size else 0.0
    if best <= 0:
        return np.zeros(0, dtype=np.int64)
    ok = (values >= PLAUSIBLE * best) & (values < FAVOURED * best)
    if not ok.any():
        return np.zeros(0, dtype=np.int64)
    top_prior = float(prior[ok].max())
    ok &= prior >= NEAR_TOP * top_prior
    return np.flatnonzero(ok).astype(np.int64)
