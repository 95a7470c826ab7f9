import math

import pytest

from benchmarks.project import fit, project


def test_a_power_law_is_recovered_exactly():
    xs = [1e8, 2.5e8, 1e9, 2e9]
    a, k = fit(xs, [3.0 * x**0.87 for x in xs])
    assert a == pytest.approx(3.0, rel=1e-9) and k == pytest.approx(0.87, rel=1e-9)


def _row(gb: float) -> dict:
    b = gb * 1e9
    return {"bytes": b, "names": 1e6 * gb**0.6, "pairs": 1e8 * gb**0.87, "pairs_kept_pruned": 1.3e7 * gb**0.9,
            "index_bytes": 2.4e9 * gb**0.9, "map_s": 500 * gb, "buckets": 8,
            "stages": {"pairs": 100 * gb**0.87, "concatenate": 2 * gb, "write": 30 * gb}}


def test_the_projection_follows_the_fitted_growth_and_the_cluster():
    rows = [_row(g) for g in (0.25, 0.5, 1, 2)]
    text, model = project(rows, nodes=[16, 64], cores=32, storage_gbps=10.0, workers=2)
    assert model["growth"]["pairs"]["exponent"] == pytest.approx(0.87)
    assert model["rates"]["map_mb_s_core"] == pytest.approx(2e3 / (1000 * 2))  # 2 GB in 1000 s on 2 cores
    lines = [line for line in text.splitlines() if line.strip("| ").startswith(("1 TB", "10 TB"))]
    assert len(lines) == 4  # 2 sizes x 2 cluster sizes
    tb16, tb64 = (line.split("|") for line in lines[:2])
    # the map of 1 TB at 1 MB/s per core on 16 x 32 cores: 1e6 MB / 512 = 1953 s = 0.5 h (storage allows 100 s)
    assert tb16[8].strip() == "0.5 h" and tb64[8].strip() == "0.1 h"
    assert tb16[10].strip() == tb64[10].strip() != ""  # the publish runs on one node whatever the cluster
    assert math.isclose(float(tb16[4].split()[0]), 1e8 * 1000**0.87 / 1e9, rel_tol=0.05)
