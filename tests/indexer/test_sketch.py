import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cooc.indexer.sketch import CountMinSketch, SketchShape, hll_estimate, hll_registers, sketch_error


def tiny(depth=3, width_log2=4) -> SketchShape:
    return SketchShape.from_mb((depth * 4 << width_log2) / (1 << 20), depth)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.integers(0, 2**64 - 1), st.integers(1, 1000), max_size=200),
       st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_sketch_never_underestimates_and_zero_means_absent(truth, probes):
    s = CountMinSketch(tiny())  # 3 x 16 cells: heavy collisions on purpose
    keys = np.array(sorted(truth), dtype=np.uint64)
    s.add(keys, np.array([truth[int(k)] for k in keys], dtype=np.int64))
    est = s.query(keys)
    assert all(int(e) >= truth[int(k)] for k, e in zip(keys, est, strict=True))
    for k, e in zip(probes, s.query(np.array(probes, dtype=np.uint64)), strict=True):
        if e == 0:
            assert truth.get(k, 0) == 0


def test_conservative_update_is_exact_without_collisions():
    s = CountMinSketch(SketchShape.from_mb(1))
    keys = np.arange(100, dtype=np.uint64)
    s.add(keys, np.arange(1, 101))
    assert s.query(keys).tolist() == list(range(1, 101))
    assert s.query(np.array([10**12], dtype=np.uint64)).tolist() == [0]


def test_saturates_instead_of_wrapping():
    s = CountMinSketch(tiny())
    k = np.array([7], dtype=np.uint64)
    s.add(k, np.array([2**32 - 10]))
    s.add(k, np.array([100]))
    assert s.query(k).tolist() == [2**32 - 1]


def test_shape_from_megabytes_and_error_model():
    shape = SketchShape.from_mb(64, 4)
    assert (shape.depth, shape.width) == (4, 1 << 22) and len(set(shape.seeds)) == 4
    assert SketchShape.from_mb(64, 4) == shape  # seeds are deterministic
    assert SketchShape.from_dict(shape.to_dict()) == shape
    err = sketch_error(shape, total=1_000_000, fill=[0.5] * 4)
    assert err["false_positive_rate"] == 0.0625
    assert abs(err["bound"] - np.e / (1 << 22) * 1_000_000) < 1e-9


def test_hll_estimate_is_close():
    keys = np.random.default_rng(0).integers(0, 2**63, 200_000, dtype=np.uint64)
    reg = hll_registers(keys[:120_000])
    reg = hll_registers(keys[80_000:], reg)  # union of overlapping halves
    assert abs(hll_estimate(reg) - 200_000) / 200_000 < 0.03


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0, 10, 1_000, 11_000, 12_000, 40_000, 81_000, 500_000]),
       st.integers(0, 12))
def test_hll_estimate_equals_datasketch(seed, n_keys, extra):
    """The numpy estimator gives datasketch's HyperLogLog++ count exactly, on every branch: linear counting,
    bias correction (raw estimate <= 5m) and the plain raw estimate; and on registers raised at random."""
    from datasketch import HyperLogLogPlusPlus

    rng = np.random.default_rng(seed)
    reg = hll_registers(rng.integers(0, 2**64 - 1, n_keys, dtype=np.uint64, endpoint=True))
    bump = rng.random(reg.size) < extra / 12
    reg[bump] = np.maximum(reg[bump], rng.integers(1, 51, int(bump.sum()))).astype(np.int8)
    assert hll_estimate(reg) == float(HyperLogLogPlusPlus(p=14, reg=reg.copy()).count())


@pytest.mark.slow
def test_hll_estimate_does_not_import_datasketch():
    """The merge's estimate reads datasketch's tables alone: importing the package (its LSH, scipy's optimizers
    and sparse matrices, asyncio) added ~25-48 MiB to the build's peak memory."""
    code = ("import sys, numpy as np; from cooc.indexer.sketch import hll_estimate; "
            "print(hll_estimate(np.ones(1 << 14, np.int8))); "
            "assert not [m for m in sys.modules if m.startswith(('datasketch', 'scipy.sparse', 'scipy.optimize'))]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_bad_shapes_are_one_line_cooc_errors(tmp_path):
    import pytest

    from cooc.indexer.errors import CoocError, IndexFormatError

    with pytest.raises(CoocError, match="too small for depth 4"):
        SketchShape.from_mb(0.00001, depth=4)
    with pytest.raises(CoocError, match="depth must be >= 1"):
        SketchShape.from_mb(1, depth=0)
    np.save(tmp_path / "sketch.npy", np.zeros((2, 8), np.uint32))
    with pytest.raises(IndexFormatError, match="does not match the manifest; rebuild"):
        CountMinSketch.load(tmp_path / "sketch.npy", SketchShape.from_mb(1))


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.integers(0, 2**64 - 1), st.integers(1, 2**33), max_size=200), st.integers(0, 200),
       st.randoms(use_true_random=False))
def test_totals_sketch_never_underestimates_ignores_order_and_merges_by_max(truth, cut, rnd):
    keys = np.array(list(truth), dtype=np.uint64)
    totals = np.array([truth[int(k)] for k in keys], dtype=np.int64)
    one = CountMinSketch(tiny())
    one.add_totals(keys, totals)
    est = one.query(keys)
    assert all(int(e) >= min(t, 2**32 - 1) for e, t in zip(est, totals.tolist(), strict=True))
    order = list(range(keys.size))
    rnd.shuffle(order)
    a, b = CountMinSketch(tiny()), CountMinSketch(tiny())  # two buckets: disjoint keys, in another order
    a.add_totals(keys[order[:cut]], totals[order[:cut]])
    b.add_totals(keys[order[cut:]], totals[order[cut:]])
    a.merge_max(b.table)
    assert np.array_equal(a.table, one.table)
    conservative = CountMinSketch(tiny())
    conservative.add(keys, totals)
    assert (one.query(keys) <= conservative.query(keys)).all()  # never looser than a conservative update


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**10), st.integers(1, 8), st.sampled_from([0.001, 0.01, 0.1]))
def test_a_sketch_sized_for_n_keys_is_the_narrowest_that_meets_its_false_positive_target(n, depth, fpr):
    import math

    shape = SketchShape.for_keys(n, depth, fpr)
    predicted = lambda width: (1 - math.exp(-max(n, 1) / width)) ** depth  # noqa: E731
    assert shape.width & (shape.width - 1) == 0 and shape.depth == depth
    assert predicted(shape.width) <= fpr * (1 + 1e-9)
    assert shape.width == 2 or predicted(shape.width // 2) > fpr


def test_a_sketch_sized_for_its_keys_reads_absent_keys_as_zero_at_the_target_rate():
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**63, 50_000, dtype=np.uint64)
    s = CountMinSketch(SketchShape.for_keys(keys.size))  # 1% by default
    s.add_totals(keys, np.ones(keys.size, np.int64))
    absent = rng.integers(2**63, 2**64 - 1, 50_000, dtype=np.uint64)
    measured = float((s.query(absent) > 0).mean())
    predicted = sketch_error(s.shape, keys.size, s.fill())["false_positive_rate"]
    assert measured <= 0.01 and abs(measured - predicted) < 0.003


def test_a_datasketch_without_its_tables_is_a_one_line_error(tmp_path, monkeypatch):
    """The estimate reads datasketch's hyperloglog_const.py by path; a datasketch laid out otherwise says so."""
    import importlib.machinery

    from cooc.indexer import sketch
    from cooc.indexer.errors import CoocError

    spec = importlib.machinery.ModuleSpec("datasketch", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]  # a package directory without the tables
    monkeypatch.setattr(sketch.importlib.util, "find_spec", lambda name: spec)
    monkeypatch.setattr(sketch, "_HLL_CONST", [])
    with pytest.raises(CoocError, match="cannot read datasketch's HyperLogLog"):
        sketch.hll_estimate(np.zeros(1 << 14, np.int8))
