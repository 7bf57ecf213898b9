"""A fixed-seed dry run of the full history, generated once per session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from sendflowr.generator import EVENT_CODES, EventBlock, Model, UserTruth, model_for
from sendflowr.generator.block import concat_blocks
from sendflowr.generator.run import Plan, generate_blocks
from sendflowr.timing.zones import table_for

SEED = 20251001
CODE = {name: i for i, name in enumerate(EVENT_CODES)}


@dataclass
class History:
    """The whole default history: events as one block, plus every user's truth."""

    model: Model
    block: EventBlock
    truths: list[UserTruth]

    def of(self, etype: str) -> EventBlock:
        return self.block.take(self.block.etype == CODE[etype])

    def local_ms(self, block: EventBlock) -> npt.NDArray[np.int64]:
        """Each event's time on its recipient's local clock (ms read as if UTC)."""
        zones = {t.index: t.timezone for t in self.truths}
        out = block.ts.copy()
        for zone in set(zones.values()):
            rows = np.isin(block.user, [i for i, z in zones.items() if z == zone])
            out[rows] = table_for(zone, block.ts[rows]).to_wall(block.ts[rows])
        return out

    def message_key(self, block: EventBlock) -> npt.NDArray[np.int64]:
        """One key per (user, send): joins sent/delivered/opened/clicked rows."""
        return block.user * 1_000_000 + block.send_seq


@pytest.fixture(scope="session")
def history() -> History:
    model = model_for(None)
    w = model.world
    plan = Plan(model=model, seed=SEED, start=w.history.start, end=w.history.end)
    blocks, truths = [], []
    for block, chunk in generate_blocks(plan):
        blocks.append(block)
        truths.extend(chunk)
    return History(model, concat_blocks(blocks), truths)
