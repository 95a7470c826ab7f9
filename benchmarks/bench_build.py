"""Build throughput, per stage and end to end, against the I/O floor and a pure-Python baseline.

    python -m benchmarks.bench_build --corpus ../shared/data/corpus --generated-gb 2 --runs 3

Datasets: (a) the real corpus files given, (b) a generated corpus (benchmarks/generate.py)
of --generated-gb GB. Vocabulary discovery runs once (timed on its own); every build then
counts with that vocabulary (`--vocab`), as a sharded production build does.

Printed per dataset: a stage table (read, match, count, store; one process) and an
end-to-end table (median of --runs subprocess builds with 1 and 2 workers: MB/s of raw
text, docs/s, peak RSS of the whole process tree, index size), next to two references
measured in the same run: the I/O floor (decompress + parse the same files, nothing else;
1 and 2 processes) and the pure-Python baseline (same matching and counting with dicts,
on the first --baseline-mb MB). Then the sketch-error table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from cooc.indexer.count import Counter
from cooc.indexer.match import Matcher
from cooc.indexer.merge import MergeOptions, merge_parts
from cooc.indexer.parts import PARTS_DIR, load_done, settings_for, write_part
from cooc.indexer.read import ReadOptions, ReadStats, read_file, resolve_inputs
from cooc.indexer.sketch import DEFAULT_DEPTH, DEFAULT_SKETCH_MB, CountMinSketch, SketchShape, sketch_error
from cooc.indexer.vocab import Vocabulary

from . import baseline
from .generate import generate


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def timed_subprocess(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS of the process tree (sampled every 50 ms)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    stop.set()
    t.join()
    if proc.returncode:
        raise SystemExit(f"benchmark build failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")
    return time.perf_counter() - t0, peak


def _read_file_only(path: str) -> tuple[int, int]:
    stats = ReadStats()
    for _ in read_file(Path(path), ReadOptions(), stats):
        pass
    return stats.bytes, stats.documents


def io_floor(files: list[Path], workers: int) -> float:
    t0 = time.perf_counter()
    if workers == 1:
        for f in files:
            _read_file_only(str(f))
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_read_file_only, [str(f) for f in sorted(files, key=lambda p: -p.stat().st_size)]))
    return time.perf_counter() - t0


def stages(files: list[Path], vocab: Vocabulary, work: Path) -> dict:
    """One process, timed per stage: read (decompress + parse), match, count, store (parts + merge)."""
    matcher = Matcher(vocab.entries())
    Counter(len(vocab.entities), 1000).add(matcher.match_batch(["warm up the compiled kernels"]))
    out = work / "stage-index"
    shutil.rmtree(out, ignore_errors=True)
    parts = out / PARTS_DIR
    parts.mkdir(parents=True)
    vocab.save(parts / "vocab.jsonl")
    settings = settings_for(vocab, 1000, ReadOptions(), None)
    t = {"read": 0.0, "match": 0.0, "count": 0.0, "store": 0.0}
    total = ReadStats()
    for f in files:
        stats = ReadStats()
        counter = Counter(len(vocab.entities), 1000)
        t0 = time.perf_counter()
        for batch in read_file(f, ReadOptions(), stats):
            t1 = time.perf_counter()
            m = matcher.match_batch(batch.texts)
            t2 = time.perf_counter()
            counter.add(m)
            t3 = time.perf_counter()
            t["read"] += t1 - t0
            t["match"] += t2 - t1
            t["count"] += t3 - t2
            t0 = time.perf_counter()
        write_part(f, parts, counter, stats, settings)
        t["store"] += time.perf_counter() - t0
        total.add(stats)
    t0 = time.perf_counter()
    merge_parts(vocab, [(parts, d) for d in load_done(parts)], out, MergeOptions())
    t["store"] += time.perf_counter() - t0
    return {"seconds": t, "bytes": total.bytes, "documents": total.documents}


def python_baseline(files: list[Path], vocab: Vocabulary, limit_mb: float) -> tuple[float, int]:
    m = baseline.PythonMatcher(vocab.entries())
    texts, size = [], 0
    for f in files:
        for batch in read_file(f, ReadOptions(), ReadStats()):
            for t in batch.texts:
                texts.append(t)
                size += len(t.encode())
                if size >= limit_mb * 1e6:
                    break
            if size >= limit_mb * 1e6:
                break
    t0 = time.perf_counter()
    baseline.count(m, texts, 1000)
    return time.perf_counter() - t0, size


def dir_bytes(path: Path) -> int:
    """Bytes of an index without its parts; the top-level names are symlinks into gen-N, counted once."""
    return sum(f.stat().st_size for f in path.rglob("*")
               if f.is_file() and not f.is_symlink() and "parts" not in f.parts)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])


def bench_dataset(name: str, inputs: list[str], vocab_path: Path, work: Path, runs: int, baseline_mb: float,
                  with_ray: bool = False) -> str:
    files = resolve_inputs(inputs)
    vocab = Vocabulary.load(vocab_path)
    st = stages(files, vocab, work)
    mb = st["bytes"] / 1e6
    out = [f"### {name}: {len(files)} files, {mb:,.0f} MB of text, {st['documents']:,} documents\n"]
    out.append(table(["stage (1 process)", "seconds", "MB/s"],
                     [[k, f"{v:.2f}", f"{mb / v:,.0f}" if v else "-"] for k, v in st["seconds"].items()]))
    rows = []
    floors = {w: statistics.median(io_floor(files, w) for _ in range(runs)) for w in (1, 2)}
    for w in (1, 2):
        rows.append([f"I/O floor, {w} process{'es' if w > 1 else ''}", f"{floors[w]:.2f}", f"{mb / floors[w]:,.1f}",
                     f"{st['documents'] / floors[w]:,.0f}", "-", "-", "1.00"])
    py_s, py_bytes = python_baseline(files, vocab, baseline_mb)
    py_rate = py_bytes / 1e6 / py_s
    rows.append([f"pure Python, 1 process ({py_bytes / 1e6:.0f} MB)", f"{py_s:.2f}", f"{py_rate:,.2f}", "-", "-", "-", "-"])
    results = {}
    configs = [("1 worker", 1, []), ("2 workers", 2, [])]
    if with_ray:
        configs.append(("Ray, local runtime, 2 CPUs", 2, ["--executor", "ray"]))
    for label, w, extra in configs:
        walls, peaks = [], []
        for _ in range(runs):
            idx = work / f"{name}-{label.split(',')[0].replace(' ', '')}"
            shutil.rmtree(idx, ignore_errors=True)
            cmd = [sys.executable, "-m", "cooc.cli.main", "build", *inputs, "-o", str(idx), "--vocab", str(vocab_path),
                   "--workers", str(w), "-q", *extra]
            wall, peak = timed_subprocess(cmd)
            walls.append(wall)
            peaks.append(peak)
        wall = statistics.median(walls)
        results[label] = mb / wall
        rows.append([f"cooc build, {label}", f"{wall:.2f}", f"{mb / wall:,.1f}",
                     f"{st['documents'] / wall:,.0f}", f"{max(peaks) / 2**20:,.0f}", f"{dir_bytes(idx) / 1e6:,.1f}",
                     f"{floors[w] / wall:.2f}"])
    out.append("")
    out.append(table([f"end to end (median of {runs})", "seconds", "MB/s", "docs/s", "peak RSS MiB",
                      "index MB", "floor/build"], rows))
    out.append(f"\nratios: 2 workers vs pure Python {results['2 workers'] / py_rate:,.0f}x, 1 worker vs pure Python "
               f"{results['1 worker'] / py_rate:,.0f}x; build within {1 / (floors[2] * results['2 workers'] / mb):.2f}x "
               f"of the 2-process I/O floor\n")
    return "\n".join(out)


def sketch_table(sizes: list[int], sketch_mb: float, depth: int, seed: int = 1) -> str:
    """Insert n distinct pairs with Zipf-like counts into the default sketch; probe fresh keys."""
    rows = []
    rng = np.random.default_rng(seed)
    for n in sizes:
        shape = SketchShape.from_mb(sketch_mb, depth)
        s = CountMinSketch(shape)
        keys = rng.integers(1, 2**63, n, dtype=np.uint64)
        counts = np.minimum(rng.zipf(1.8, n), 2**31).astype(np.int64)
        t0 = time.perf_counter()
        for i in range(0, n, 1 << 22):
            s.add(keys[i : i + (1 << 22)], counts[i : i + (1 << 22)])
        t_add = time.perf_counter() - t0
        rare = counts <= 5
        sample = np.flatnonzero(rare)[:2_000_000]
        over = (s.query(keys[sample]) - counts[sample]).mean()
        fresh = rng.integers(1, 2**63, 1_000_000, dtype=np.uint64)
        fp = float((s.query(fresh) > 0).mean())
        err = sketch_error(shape, int(counts.sum()), s.fill())
        rows.append([f"{n:,}", f"{depth} x 2^{shape.width.bit_length() - 1}", f"{over:.3f}", f"{fp:.4f}",
                     f"{err['false_positive_rate']:.4f}", f"{err['bound']:,.0f}", f"{n / t_add / 1e6:.1f}"])
        del s, keys, counts
    return table(["distinct pairs", "sketch", "mean over-count (true <= 5)", "FP rate measured",
                  "FP rate reported", "eps*N bound", "M inserts/s"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", required=True, help="real corpus files or directories")
    ap.add_argument("--generated-gb", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline-mb", type=float, default=5.0)
    ap.add_argument("--discover-docs", type=int, default=5000)
    ap.add_argument("--sketch-sizes", default="1000000,10000000,100000000")
    ap.add_argument("--work", type=Path, default=Path(".cooc/bench"))
    ap.add_argument("--ray", action="store_true", help="also build with --executor ray (extra `ray`)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    vocab = a.work / "vocab.jsonl"
    report = ["## Build benchmark\n"]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cooc.cli.main", "vocab", *a.corpus, "-o", str(vocab),
                    "--discover-docs", str(a.discover_docs)], check=True, stdout=subprocess.DEVNULL)
    n_ent = len(Vocabulary.load(vocab).entities)
    report.append(f"Vocabulary: spaCy NER over {a.discover_docs} documents of the real corpus, {n_ent:,} entities, "
                  f"{time.perf_counter() - t0:.1f}s (once; not part of the build times below). Machine: "
                  f"{os.cpu_count()} cores.\n")
    report.append(bench_dataset("real corpus", a.corpus, vocab, a.work, a.runs, a.baseline_mb, a.ray))
    if a.generated_gb > 0:
        gen = a.work / f"generated-{a.generated_gb:g}gb"
        if not gen.is_dir():
            generate(a.corpus, vocab, gen, a.generated_gb)
        report.append(bench_dataset(f"generated {a.generated_gb:g} GB", [str(gen)], vocab, a.work, a.runs,
                                    a.baseline_mb, a.ray))
    sizes = [int(x) for x in a.sketch_sizes.split(",") if x]
    if sizes:
        report.append(f"### Sketch error: default sketch ({DEFAULT_SKETCH_MB} MiB, depth {DEFAULT_DEPTH}), "
                      "Zipf(1.8) pair counts, 1M never-seen probe keys\n")
        report.append(sketch_table(sizes, DEFAULT_SKETCH_MB, DEFAULT_DEPTH))
    text = "\n".join(report)
    print(text)
    (a.work / "results.md").write_text(text + "\n")
    print(json.dumps({"written": str(a.work / "results.md")}))


if __name__ == "__main__":
    main()
