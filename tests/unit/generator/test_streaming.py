"""Streaming output equals the whole-history output for the same seed (bounded memory)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pyarrow as pa

from sendflowr.generator import generate_arrow, generate_truth, iter_arrow, model_for
from sendflowr.generator.block import concat_blocks
from sendflowr.generator.outputs.base import DryRunOutput
from sendflowr.generator.outputs.store import arrow_stream, plain_columns
from sendflowr.generator.run import Plan, generate_blocks, run
from sendflowr.generator.truth import TruthWriter, UserTruth, truth_record

START, END = date(2025, 10, 1), date(2025, 11, 1)


def test_iter_arrow_in_small_chunks_equals_generate_arrow() -> None:
    whole = plain_columns(generate_arrow(seed=5, users=30, start=START, end=END))
    chunks = list(iter_arrow(seed=5, users=30, start=START, end=END, chunk_events=200))
    assert len(chunks) > 5  # really streamed
    assert all(len(c) < 1_000 for c in chunks)  # whole users, about 200 events each
    streamed = pa.concat_tables([plain_columns(c) for c in chunks])
    assert streamed.equals(whole)


def test_blocks_do_not_depend_on_the_chunk_size() -> None:
    plan = Plan(model_for(None), 9, START, END, users=25)
    big = concat_blocks([b for b, _ in generate_blocks(plan)])
    small = concat_blocks([b for b, _ in generate_blocks(plan, chunk_events=100)])
    assert len(big) == len(small) > 0
    assert (big.ts == small.ts).all() and (big.user == small.user).all()
    assert (big.rand_lo == small.rand_lo).all() and (big.etype == small.etype).all()


def test_truth_written_as_it_is_made_equals_generate_truth(tmp_path: Path) -> None:
    model = model_for(None)
    params = {p.name: {"name": p.name} for p in model.world.personas}
    path = tmp_path / "truth.jsonl"
    seen: list[list[UserTruth]] = []
    with TruthWriter(path, params) as writer:

        def keep(chunk: list[UserTruth]) -> None:
            seen.append(chunk)
            writer.write(chunk)

        result = run(Plan(model, 3, START, END, users=40), DryRunOutput(), on_truths=keep)
    assert result.truths == []  # nothing kept in memory
    expected = generate_truth(seed=3, users=40, start=START, end=END)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert writer.written == len(lines) == 40
    assert lines == [
        orjson.loads(orjson.dumps(truth_record(t, params[t.persona]))) for t in expected
    ]


def test_the_store_output_sends_plain_arrow_streams() -> None:
    table = next(iter_arrow(seed=1, users=3, start=START, end=END))
    plain = plain_columns(table)
    assert not any(pa.types.is_dictionary(f.type) for f in plain.schema)
    with pa.ipc.open_stream(arrow_stream(plain)) as reader:
        assert reader.read_all().equals(plain)
