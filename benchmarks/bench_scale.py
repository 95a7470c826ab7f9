"""How cost grows with corpus size, on an open-vocabulary corpus (benchmarks/generate_open.py).

    python -m benchmarks.bench_scale --corpus ../shared/data/corpus --gb 0.5 1 2 --work .cooc/scale

For each size: generate the corpus (kept and reused), run the default build in a child process
(map = counting shards, reduce = the bucketed merge; peak RSS of every process of the tree,
sampled every 50 ms), merge the same parts again with --min-pair-docs 2 to measure the sketch
(fill, its false-positive rate predicted and measured on pairs that never occur), and time
Index.open and lookups in a fresh process. Prints one table and writes
benchmarks/results/scale.md and a log-log plot benchmarks/results/scale.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from .bench_build import dir_bytes, table
from .generate_open import generate_open

RESULTS = Path(__file__).parent / "results"

_BUILD = """
import json, sys
from pathlib import Path
from cooc.indexer.build import BuildConfig, build_index
from cooc.indexer.merge import MergeOptions, merge
from cooc.indexer.runner import LocalRunner
out, workers, files = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
r = build_index(BuildConfig(files, out, runner=LocalRunner(workers=workers), force=True, progress=False))
m = merge([out], out.with_name(out.name + "-pruned"), MergeOptions(min_pair_docs=2), LocalRunner(workers=workers),
          force=True)
print(json.dumps({"map_s": r.count_seconds, "reduce_s": r.merged.seconds, "buckets": r.merged.buckets,
                  "names": r.merged.names, "pairs": r.merged.pairs, "documents": r.merged.documents,
                  "stages": r.merged.stages, "pruned_reduce_s": m.seconds, "pruned_stages": m.stages,
                  "pairs_kept_pruned": m.pairs_kept}))
"""

_LOOKUP = """
import json, sys, time
import numpy as np
from cooc.scorer import Index
t0 = time.perf_counter(); ix = Index.open(sys.argv[1]); open_s = time.perf_counter() - t0
rng = np.random.default_rng(0)
ids = rng.integers(0, ix.n_names, 2000)
names = [ix.name_of(int(i)) for i in ids]
lat = []
for n in names:
    t = time.perf_counter(); ix.docs(n); lat.append(time.perf_counter() - t)
pair_lat, warm_lat = [], []  # the same probes twice: first with the index's pages as the build left them, then warm
for out in (pair_lat, warm_lat):
    for a, b in zip(ids[:1000].tolist(), ids[1000:].tolist()):
        t = time.perf_counter(); ix.pair(int(a), int(b)); out.append(time.perf_counter() - t)
# the same lookups if the index kept its B bucket arrays instead of one: route to the bucket, then search it
buckets = int(sys.argv[3])
keys = ix._pair_keys  # the complete table (a benchmark may read the private arrays)
first_ids = np.searchsorted(ix._hash, np.arange(buckets, dtype=np.uint64) << np.uint64(65 - buckets.bit_length())) \
    if buckets > 1 else np.zeros(1, np.int64)
firsts = first_ids.astype(np.uint64) << np.uint64(32)  # the smallest key of each bucket
slices = np.split(keys, np.searchsorted(keys, firsts)[1:])
hits = keys[rng.integers(0, keys.size, 1000)].tolist() if keys.size else []
probe = [np.uint64(k) for k in hits] + [(np.uint64(min(a, b)) << np.uint64(32)) | np.uint64(max(a, b)) for a, b in
                                        zip(rng.integers(0, ix.n_names, 1000).tolist(),
                                            rng.integers(0, ix.n_names, 1000).tolist()) if a != b]
one, kept = [], []
for k in probe:
    t = time.perf_counter(); i = int(keys.searchsorted(k)); hit = i < keys.size and keys[i] == k; one.append(time.perf_counter() - t)
    t = time.perf_counter(); s = slices[int(firsts.searchsorted(k, "right")) - 1]; j = int(s.searchsorted(k))
    hit2 = j < s.size and s[j] == k; kept.append(time.perf_counter() - t)
    assert hit == hit2
p = Index.open(sys.argv[2])
meta = p.manifest.get("sketch", {})
absent = []
while len(absent) < 20000:  # id pairs that never occur in the complete table: a sketch > 0 is a false positive
    a, b = np.sort(rng.integers(0, ix.n_names, (2, 4096)), axis=0)
    ok = a < b
    k = (a[ok].astype(np.uint64) << np.uint64(32)) | b[ok].astype(np.uint64)
    pos = np.searchsorted(keys, k)
    hit = (pos < keys.size) & (keys[np.minimum(pos, keys.size - 1)] == k)
    absent.extend(k[~hit].tolist())
est = p._sketch.query(np.array(absent[:20000], dtype=np.uint64)) if p._sketch is not None else np.zeros(1)
q = lambda xs, f: float(np.quantile(np.array(xs) * 1e6, f))
print(json.dumps({"open_ms": open_s * 1e3, "docs_p50_us": q(lat, 0.5), "docs_p99_us": q(lat, 0.99),
                  "search_one_p50_us": q(one, 0.5), "search_one_p99_us": q(one, 0.99),
                  "search_kept_p50_us": q(kept, 0.5), "search_kept_p99_us": q(kept, 0.99),
                  "pair_p50_us": q(pair_lat, 0.5), "pair_p99_us": q(pair_lat, 0.99),
                  "pair_warm_p50_us": q(warm_lat, 0.5), "pair_warm_p99_us": q(warm_lat, 0.99),
                  "sketch_mib": p._sketch.table.nbytes / 2**20 if p._sketch is not None else 0,
                  "sketch_fill": max(meta.get("fill", [0])), "sketch_fpr_predicted": meta.get("false_positive_rate", 0),
                  "sketch_fpr_measured": float((est > 0).mean())}))
"""


def _per_process_peaks(pid: int, peaks: dict[int, int]) -> None:
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
            peaks[p] = max(peaks.get(p, 0), rss)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue


def run_child(code: str, *args: str) -> tuple[dict, float, dict[int, int]]:
    """A child Python's JSON result, wall seconds and the peak RSS of each process of its tree."""
    peaks: dict[int, int] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)

    def sample() -> None:
        while not stop.is_set():
            _per_process_peaks(proc.pid, peaks)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"child failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - t0, peaks


def corpus(sources: list[str], gb: float, work: Path) -> list[Path]:
    d = work / f"open-{gb:g}gb"
    meta = d / "generated.json"
    shard_mb = min(256.0, gb * 1000 / 16)  # at least 16 shards, so that every worker has files to count
    if not (meta.is_file() and json.loads(meta.read_text()).get("shard_mb") == shard_mb):
        t0 = time.perf_counter()
        generate_open(sources, d, gb, shard_mb=shard_mb)
        print(f"  generated {gb:g} GB in {time.perf_counter() - t0:.0f}s", flush=True)
    return sorted(d.glob("open-*.jsonl.zst"))


def measure(sources: list[str], gb: float, work: Path, workers: int) -> dict:
    files = corpus(sources, gb, work)
    out = work / f"idx-{gb:g}gb"
    for d in (out, out.with_name(out.name + "-pruned")):  # a build would reuse finished parts: measure the map
        shutil.rmtree(d, ignore_errors=True)
    built, wall, peaks = run_child(_BUILD, str(out), str(workers), *map(str, files))
    looked, _, _ = run_child(_LOOKUP, str(out), str(out.with_name(out.name + "-pruned")), str(built["buckets"]))
    gen = json.loads((files[0].parent / "generated.json").read_text())
    return {"gb": gb, "bytes": gen["bytes"], "once": gen["names_used_once_by_construction"], **built, **looked,
            "wall_s": wall, "peak_process": max(peaks.values()), "processes": len(peaks),
            "index_bytes": dir_bytes(out), "pruned_bytes": dir_bytes(out.with_name(out.name + "-pruned"))}


def report(rows: list[dict]) -> str:
    mib = 2**20
    costs = table(["corpus", "docs", "names", "pairs", "map s", "reduce s", "reduce/map", "buckets", "MB/s",
                   "peak RSS/process MiB", "index MB", "pruned MB", "sketch MiB", "sketch fill", "FPR pred/meas"],
                  [[f"{r['bytes'] / 1e9:.2f} GB", f"{r['documents']:,}", f"{r['names']:,}", f"{r['pairs']:,}",
                    f"{r['map_s']:.0f}", f"{r['reduce_s']:.0f}", f"{r['reduce_s'] / r['map_s']:.2f}", r["buckets"],
                    f"{r['bytes'] / 1e6 / (r['map_s'] + r['reduce_s']):.1f}", f"{r['peak_process'] / mib:,.0f}",
                    f"{r['index_bytes'] / 1e6:,.0f}", f"{r['pruned_bytes'] / 1e6:,.0f}", f"{r.get('sketch_mib', 0):,.0f}",
                    f"{r['sketch_fill']:.3f}", f"{r['sketch_fpr_predicted']:.4f}/{r['sketch_fpr_measured']:.4f}"]
                   for r in rows])
    stages = table(["corpus", "reduce stages s (names / pairs / concatenate / evidence / write)", "open ms",
                    "docs p50/p99 us", "pair p50/p99 us (first / warm)", "search, 1 array p50/p99 us",
                    "search, B arrays p50/p99 us"],
                   [[f"{r['bytes'] / 1e9:.2f} GB",
                     " / ".join(f"{r['stages'].get(k, 0):.1f}" for k in ("names", "pairs", "concatenate", "evidence", "write")),
                     f"{r['open_ms']:.1f}", f"{r['docs_p50_us']:.1f}/{r['docs_p99_us']:.1f}",
                     f"{r['pair_p50_us']:.1f}/{r['pair_p99_us']:.1f} / " + (
                         f"{r['pair_warm_p50_us']:.1f}/{r['pair_warm_p99_us']:.1f}" if "pair_warm_p99_us" in r else "-"),
                     f"{r['search_one_p50_us']:.1f}/{r['search_one_p99_us']:.1f}",
                     f"{r['search_kept_p50_us']:.1f}/{r['search_kept_p99_us']:.1f}"] for r in rows])
    return costs + "\n\n" + stages


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["bytes"] / 1e9 for r in rows]
    series = {"map s": "map_s", "reduce s": "reduce_s", "peak RSS/process MiB": "peak_process",
              "index MB": "index_bytes", "distinct names (k)": "names", "distinct pairs (k)": "pairs",
              "open ms": "open_ms", "docs p99 us": "docs_p99_us"}
    scale = {"peak_process": 2**-20, "index_bytes": 1e-6, "names": 1e-3, "pairs": 1e-3}
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, key in series.items():
        ax.loglog(x, [r[key] * scale.get(key, 1) for r in rows], marker="o", label=label)
    ax.set_xlabel("corpus GB (open-vocabulary generator)")
    ax.set_title("cooc cost vs corpus size (2 cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_results(rows: list[dict], workers: int) -> str:
    RESULTS.mkdir(exist_ok=True)
    text = report(rows)
    (RESULTS / "scale.md").write_text(textwrap.dedent(f"""\
        # Scale runs (benchmarks/bench_scale.py, {workers} workers)

        """) + text + "\n")
    (RESULTS / "scale.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows, RESULTS / "scale.png")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", default=["../shared/data/corpus"])
    ap.add_argument("--gb", nargs="+", type=float, default=[0.5, 1, 2])
    ap.add_argument("--work", type=Path, default=Path(".cooc/scale"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--from-log", type=Path, help="rebuild the results from the JSON lines a run printed (no run)")
    a = ap.parse_args()
    if a.from_log:
        rows = [json.loads(line) for line in a.from_log.read_text().splitlines() if line.startswith("  {")]
        print(write_results(sorted(rows, key=lambda r: r["bytes"]), a.workers))
        return
    rows = []
    for gb in a.gb:
        print(f"{gb:g} GB ...", flush=True)
        rows.append(measure(a.corpus, gb, a.work, a.workers))
        print(f"  {json.dumps(rows[-1])}", flush=True)
    print(write_results(rows, a.workers))


if __name__ == "__main__":
    main()
