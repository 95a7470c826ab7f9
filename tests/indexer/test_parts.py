"""Part files: the order their rows are written in (what the merge's row-group pruning relies on)."""

import numpy as np
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cooc.indexer.merge import MergeOptions
from cooc.indexer.parts import ORDER_BITS, bucket_order
from tests.conftest import build


@settings(deadline=None)
@given(arrays(np.uint64, st.integers(0, 500), elements=st.integers(0, 2**64 - 1)), st.integers(1, 16))
def test_bucket_order_is_a_stable_grouping_by_the_top_bits(keys, bits):
    order = bucket_order(keys, bits)
    assert sorted(order.tolist()) == list(range(keys.size))
    top = keys[order] >> np.uint64(64 - bits)
    assert np.all(top[1:] >= top[:-1])
    same = top[1:] == top[:-1]
    assert np.all(order[1:][same] > order[:-1][same])  # stable: equal groups keep their order


def test_each_row_group_of_a_part_covers_its_own_range_of_top_bits(tmp_path, corpus_files, monkeypatch):
    """Row groups of 4 rows (so a part has several): their key ranges, in top bits, never interleave, so a bucket
    (a range of top bits) reads only the row groups that hold its keys."""
    from cooc.indexer import parts

    monkeypatch.setitem(parts.PART_PARQUET, "row_group_size", 4)
    out = tmp_path / "idx"
    build([corpus_files["jsonl"]], out, merge=MergeOptions(evidence=False))
    shift = 64 - ORDER_BITS
    for path in (out / "parts").glob("*.parquet"):
        f = pq.ParquetFile(path)
        ranges = [(f.metadata.row_group(g).column(0).statistics.min >> shift,
                   f.metadata.row_group(g).column(0).statistics.max >> shift) for g in range(f.metadata.num_row_groups)]
        assert len(ranges) > 1, path
        assert all(lo1 <= hi1 <= lo2 for (lo1, hi1), (lo2, _) in zip(ranges, ranges[1:], strict=False)), path
