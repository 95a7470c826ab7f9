"""Project the scale runs (benchmarks/results/scale.json) to 1 TB and 10 TB on a cluster.

    python -m benchmarks.project --nodes 16 64 --cores 32 --storage-gbps 10

Every figure is a power law fitted by least squares on log-log axes to the measured sizes (so
it assumes the growth seen between the smallest and largest run continues), then spread over
the cluster by the stated assumptions: the map scales with cores until the storage bandwidth
caps it; each reduce bucket is one task; the publish (concatenating the buckets, writing the
DuckDB copy, the checksums) runs on one node at the rate measured on this machine. Prints one
table and writes benchmarks/results/projection.md.
"""

from __future__ import annotations

import argparse
import json
import math

from cooc.indexer.buckets import ROWS_PER_BUCKET

from .bench_build import table
from .bench_scale import RESULTS

GB = 1e9
SIZES = {"1 TB": 1e12, "10 TB": 1e13}


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(a, k) of y = a * x**k, least squares on logs."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    k = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / sum((x - mx) ** 2 for x in lx)
    return math.exp(my - k * mx), k


def _growth(rows: list[dict]) -> dict[str, tuple[float, float]]:
    x = [r["bytes"] for r in rows]
    per = {"names": [r["names"] for r in rows], "pairs": [r["pairs"] for r in rows],
           "kept_at_2": [r["pairs_kept_pruned"] for r in rows], "index": [r["index_bytes"] for r in rows]}
    return {k: fit(x, v) for k, v in per.items()}


def _rates(rows: list[dict], workers: int) -> dict[str, float]:
    """Rates of the largest run (the steadiest): raw MB/s per core of the map, pairs/s per core of the
    reduce, and pairs/s of the publish (one process; it writes every pair, so it is taken as linear)."""
    r = max(rows, key=lambda r: r["bytes"])
    return {"map_mb_s_core": r["bytes"] / 1e6 / (r["map_s"] * workers),
            "pairs_s_core": r["pairs"] / (r["stages"]["pairs"] * min(workers, r["buckets"])),
            "publish_pairs_s": r["pairs"] / (r["stages"]["concatenate"] + r["stages"]["write"])}


def project(rows: list[dict], nodes: list[int], cores: int, storage_gbps: float, workers: int,
            rows_per_pair: float = 3.0) -> tuple[str, dict]:
    """The projection table and the fitted model. rows_per_pair: part rows (one per pair per shard that
    has it) per distinct pair, which sets the bucket count as the merge does (16 M part rows per bucket)."""
    g, rate = _growth(rows), _rates(rows, workers)
    out = []
    for label, size in SIZES.items():
        est = {k: a * size**e for k, (a, e) in g.items()}
        buckets = 1 << max(0, math.ceil(math.log2(max(est["pairs"] * rows_per_pair / ROWS_PER_BUCKET, 1))))
        for n in nodes:
            map_s = max(size / 1e6 / (rate["map_mb_s_core"] * cores * n), size / (storage_gbps * GB))
            reduce_s = est["pairs"] / (rate["pairs_s_core"] * min(cores * n, buckets))
            out.append([label, n, f"{est['names'] / 1e6:,.0f} M", f"{est['pairs'] / 1e9:,.1f} B",
                        f"{est['kept_at_2'] / 1e9:,.2f} B", f"{est['index'] / 1e12:,.1f} TB", f"{buckets:,}",
                        f"{map_s / 3600:,.1f} h", f"{reduce_s / 3600:,.2f} h", f"{est['pairs'] / rate['publish_pairs_s'] / 3600:,.1f} h"])
    text = table(["corpus", "nodes", "names", "distinct pairs", "pairs in >= 2 docs", "index (complete table)",
                  "buckets", "map", "reduce (buckets)", "publish (1 node)"], out)
    return text, {"growth": {k: {"a": a, "exponent": e} for k, (a, e) in g.items()}, "rates": rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--cores", type=int, default=32, help="cores per node")
    ap.add_argument("--storage-gbps", type=float, default=10.0, help="aggregate read bandwidth of the shared storage")
    ap.add_argument("--workers", type=int, default=2, help="processes of the measured runs")
    ap.add_argument("--rows-per-pair", type=float, default=3.0, help="part rows per distinct pair (see scale.md)")
    a = ap.parse_args()
    rows = json.loads((RESULTS / "scale.json").read_text())
    text, model = project(rows, a.nodes, a.cores, a.storage_gbps, a.workers, a.rows_per_pair)
    exps = ", ".join(f"{k} ~ size^{v['exponent']:.2f}" for k, v in model["growth"].items())
    head = (f"# Projection ({a.cores} cores per node, storage {a.storage_gbps:g} GB/s aggregate; fitted on "
            f"{len(rows)} runs of {min(r['bytes'] for r in rows) / GB:.2f}-{max(r['bytes'] for r in rows) / GB:.2f} GB)\n\n"
            f"Growth: {exps}. Per-core rates of the largest run: map {model['rates']['map_mb_s_core']:.2f} MB/s, "
            f"reduce {model['rates']['pairs_s_core'] / 1e6:.2f} M pairs/s; publish (one process) "
            f"{model['rates']['publish_pairs_s'] / 1e6:.2f} M pairs/s.\n\n")
    print(head + text)
    (RESULTS / "projection.md").write_text(head + text + "\n")
    (RESULTS / "projection.json").write_text(json.dumps(model, indent=2) + "\n")


if __name__ == "__main__":
    main()
