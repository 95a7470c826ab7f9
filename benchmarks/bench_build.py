"""Build throughput of the default index, against the I/O floor, pure Python and infini-gram.

    python -m benchmarks.bench_build --corpus ../shared/data/corpus --generated-gb 2 --runs 3

Datasets: (a) the corpus files copied --copies times (10: the shared corpus becomes 30 files,
191 MB), (b) a generated corpus of --generated-gb GB (`benchmarks/generate.py`: real sentences
with the rule's names of the corpus mixed in by a Zipf law, .jsonl.zst shards), (c) the corpus
files themselves, for the side-by-side with the local infini-gram engine.

Every cooc build is the default one, `cooc build FILES -o OUT --workers W --force -q` (W =
--workers, 2), run as a subprocess: wall time (median of --runs unsampled runs) and peak memory of
the whole process tree by the three measures of `treemem.py` (VmRSS summed, PSS summed, distinct
resident pages; median of --runs more runs, sampled: sampling slows what it samples). Measured in
the same run, per dataset: a stage table (read / count / evidence / store of `count_shard`, then
the merge; one process), the I/O floor (decompress + parse the same files, nothing else; 1 and W processes) and the pure-Python
reference (`benchmarks/baseline.py`: the span rule of `indexer/spans.py` + dict counting) on the
first --baseline-mb MB of the dataset's distinct files, taken in turn. Then the peer table
(build time and memory, runs alternating; p50/p99 of count and pair lookups for the same names,
in this process)
and the sketch-error table. Targets (issue 12) are checked against the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np

from cooc.indexer.alloc import COLD_LIBRARIES, release_library_pages
from cooc.indexer.build import BuildConfig, part_settings
from cooc.indexer.count import ShardCounter
from cooc.indexer.merge import MergeOptions, merge_parts, sketch_shape
from cooc.indexer.parts import PARTS_DIR, CountOptions, count_shard, load_done
from cooc.indexer.read import ReadOptions, ReadStats, read_file, resolve_inputs
from cooc.indexer.sketch import AUTO_SKETCH_MAX_MB, DEFAULT_DEPTH, TARGET_FPR, CountMinSketch, sketch_error
from cooc.indexer.spans import KIND_NUMBER, find_spans, prepare, span_text

from . import baseline, peer_infinigram
from .generate import corpus_names, generate, source_texts
from .treemem import TreeMemory, run_measured

MB = 1e6
MIB = 2**20
TARGET_MBS = 40.0  # MB/s of raw text, end to end, with 2 workers
TARGET_RSS = 4 * 2**30  # peak RSS of the process tree on the generated corpus
TARGET_VS_PYTHON = 20.0
TARGET_LOOKUP = 30.0  # times faster than infini-gram, count and pair lookups


# ---- measuring -----------------------------------------------------------------------------

def timed_subprocess(cmd: list[str], log: Path | None = None, sample: bool = True) -> tuple[float, TreeMemory]:
    """Wall seconds and peak memory of the process tree (`treemem.py`; `sample=False`: time only); raises
    on failure.

    This process maps the build's libraries too (the stage table and the lookups run kernels here), and
    the kernel pages out only pages one process maps: it drops its own first, so the measured build
    holds what it would hold when run from a shell (`alloc.release_library_pages`).
    """
    release_library_pages(COLD_LIBRARIES)
    log = log or Path(os.devnull)
    m = run_measured(cmd, log, sample=sample)
    if m.returncode:
        err = log.read_text(errors="replace").strip() if log.is_file() else ""
        tail = err.splitlines()[-1] if err else f"exit {m.returncode}"
        raise SystemExit(f"benchmark command failed: {' '.join(cmd[:6])} ...: {tail}")
    return m.seconds, m.peak


def cooc_command() -> list[str]:
    """The installed `cooc` script next to this interpreter, else `python -m cooc.cli.main`."""
    script = Path(sys.executable).with_name("cooc")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cooc.cli.main"]


def dir_bytes(path: Path) -> int:
    """Bytes of an index without its parts; the top-level names are symlinks into gen-N, counted once."""
    return sum(f.stat().st_size for f in path.rglob("*")
               if f.is_file() and not f.is_symlink() and PARTS_DIR not in f.relative_to(path).parts)


def peaks_of(peaks: list[TreeMemory]) -> dict:
    """Median and max over runs of each peak measure (bytes; unique: None where pagemap is hidden)."""
    out = {"peak": statistics.median(p.rss for p in peaks), "peak_max": max(p.rss for p in peaks),
           "pss": statistics.median(p.pss for p in peaks), "pss_max": max(p.pss for p in peaks),
           "unique": None, "unique_max": None}
    if all(p.unique is not None for p in peaks):
        out.update(unique=statistics.median(p.unique for p in peaks), unique_max=max(p.unique for p in peaks))
    return out


def cooc_builds(files: list[Path], out: Path, workers: int, runs: int) -> dict:
    """The default build, `runs` timed runs and `runs` memory-sampled runs, alternating: median wall,
    median and max of each peak-memory measure, index bytes."""
    walls, peaks = [], []
    cmd = [*cooc_command(), "build", *map(str, files), "-o", str(out), "--workers", str(workers), "--force", "-q"]
    for _ in range(runs):
        for sample in (False, True):
            shutil.rmtree(out, ignore_errors=True)  # every run from scratch: no finished parts to reuse
            wall, peak = timed_subprocess(cmd, out.with_name(out.name + ".log"), sample)
            if sample:
                peaks.append(peak)
            else:
                walls.append(wall)
    return {"seconds": statistics.median(walls), "all_seconds": walls, **peaks_of(peaks),
            "index_bytes": dir_bytes(out)}


def _read_file_only(path: str) -> tuple[int, int]:
    stats = ReadStats()
    for _ in read_file(Path(path), ReadOptions(), stats):
        pass
    return stats.bytes, stats.documents


def io_floor(files: list[Path], workers: int) -> float:
    """Seconds to decompress and parse every file (the build's reader, nothing else)."""
    t0 = time.perf_counter()
    if workers == 1:
        for f in files:
            _read_file_only(str(f))
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_read_file_only, [str(f) for f in sorted(files, key=lambda p: -p.stat().st_size)]))
    return time.perf_counter() - t0


def stages(files: list[Path], work: Path) -> dict:
    """One process, the default settings: read / count / store per shard (count_shard's timer), then the merge."""
    ShardCounter(1000).add(["Warm up the Compiled Kernels of New York."])  # numba cache load: not a stage
    out = work / "stage-index"
    shutil.rmtree(out, ignore_errors=True)
    parts_dir = out / PARTS_DIR
    parts_dir.mkdir(parents=True)
    cfg = BuildConfig([str(f) for f in files], out)
    opts = CountOptions(settings=part_settings(cfg), read=cfg.read, memory_mb=cfg.memory_mb)
    t = {"read": 0.0, "count": 0.0, "evidence": 0.0, "store": 0.0}

    def timer(stage: str, seconds: float) -> None:
        t[stage] += seconds

    nbytes = docs = 0
    for f in files:
        done = count_shard(f, parts_dir, opts, None, timer=timer)
        nbytes += done["bytes"]
        docs += done["documents"]
    t0 = time.perf_counter()
    merged = merge_parts([(parts_dir, d) for d in load_done(parts_dir)], out, MergeOptions())
    t["merge"] = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": t, "bytes": nbytes, "documents": docs, "names": merged.names, "pairs": merged.pairs}


def baseline_texts(files: list[Path], limit_mb: float) -> tuple[list[str], int]:
    """Documents of `files` taken in turn until `limit_mb` MB of UTF-8 text."""
    texts, size = [], 0
    for text in source_texts([str(f) for f in files]):
        texts.append(text)
        size += len(text.encode())
        if size >= limit_mb * MB:
            break
    return texts, size


def python_baseline(files: list[Path], limit_mb: float) -> tuple[float, int]:
    texts, size = baseline_texts(files, limit_mb)
    t0 = time.perf_counter()
    baseline.count(texts, 1000)
    return time.perf_counter() - t0, size


# ---- printing ------------------------------------------------------------------------------

def table(headers: list[str], rows: list[list]) -> str:
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _mib(b: float) -> str:
    return f"{b / MIB:,.0f}"


MEM_HEADERS = ["peak RSS MiB (VmRSS summed)", "peak PSS MiB", "peak memory MiB (distinct pages)"]


def mem_cells(b: dict) -> list[str]:
    """Median (max) over the runs of the three peak measures of `treemem.py`."""
    cells = [f"{_mib(b[k])} (max {_mib(b[k + '_max'])})" for k in ("peak", "pss")]
    unique = "-" if b["unique"] is None else f"{_mib(b['unique'])} (max {_mib(b['unique_max'])})"
    return [*cells, unique]


# ---- datasets ------------------------------------------------------------------------------

def copied_corpus(files: list[Path], copies: int, dest: Path) -> list[Path]:
    """Each file copied `copies` times under distinct names (name-cNN.suffixes); kept between runs."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        stem, dot, suffix = f.name.partition(".")
        for k in range(copies):
            target = dest / f"{stem}-c{k:02d}{dot}{suffix}"
            if not target.is_file() or target.stat().st_size != f.stat().st_size:
                shutil.copyfile(f, target)
            out.append(target)
    return sorted(out)


def generated_corpus(sources: list[Path], gb: float, work: Path, workers: int) -> list[Path]:
    """The generated corpus for these arguments, made once and kept (params.json says with what)."""
    shard_mb = max(1.0, min(256.0, gb * 1000 / (4 * workers)))  # >= 4 shards per worker
    params = {"sources": [str(s.resolve()) for s in sources], "gb": gb, "shard_mb": shard_mb, "seed": 0,
              "zipf": 1.1, "names": "rule names of the sources, sample of 3000 documents", "generator": 2}
    dest = work / f"generated-{gb:g}gb"
    meta = dest / "params.json"
    if not (meta.is_file() and json.loads(meta.read_text()) == params):
        t0 = time.perf_counter()
        names = corpus_names([str(s) for s in sources])
        generate([str(s) for s in sources], dest, gb, names, shard_mb=shard_mb)
        meta.write_text(json.dumps(params, indent=1))
        print(f"[generated {gb:g} GB in {time.perf_counter() - t0:.0f}s, {len(names):,} names]", file=sys.stderr)
    return sorted(dest.glob("gen-*.jsonl.zst"))


def warm_up(work: Path) -> None:
    """One untimed default build of a tiny file: numba compiles (after a library change) or loads its caches
    here, not inside the first timed build."""
    src = work / "warm-up" / "warm.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(json.dumps({"text": f"Marie Curie met Pierre Curie in Paris in {1890 + i}. The Treaty of "
                                               f"Paris and \"Infinity on High\" were {i} times apart."}) + "\n"
                           for i in range(50)))
    timed_subprocess([*cooc_command(), "build", str(src), "-o", str(src.parent / "index"), "--workers", "1",
                      "--force", "-q"])


def bench_dataset(title: str, files: list[Path], sample_files: list[Path], work: Path, runs: int, workers: int,
                  baseline_mb: float, rss_target: bool) -> tuple[str, dict]:
    tag = title.split(":")[0].replace(" ", "-")
    st = stages(files, work)
    mb = st["bytes"] / MB
    docs = st["documents"]
    out = [f"### {title}: {len(files)} files, {mb:,.1f} MB of text, {docs:,} documents "
           f"({st['names']:,} names, {st['pairs']:,} pairs)\n"]
    stage_total = sum(st["seconds"].values())
    out.append(table(["stage (1 process)", "seconds", "MB/s", "share"],
                     [[k, f"{v:.2f}", f"{mb / v:,.1f}" if v else "-", f"{v / stage_total:.0%}"]
                      for k, v in st["seconds"].items()]
                     + [["total", f"{stage_total:.2f}", f"{mb / stage_total:,.1f}", "100%"]]))
    out.append("\n(read: decompress + JSON parse; count: the numba name kernel and the shard's tables; store: "
               "part files; merge: DuckDB over the parts, the index files.)\n")
    floors = {w: statistics.median(io_floor(files, w) for _ in range(runs)) for w in sorted({1, workers})}
    # the reference brackets the builds in time (one run before them, the rest after): the VM's speed drifts
    py_runs = [python_baseline(sample_files, baseline_mb)]
    b = cooc_builds(files, work / f"index-{tag}", workers, runs)
    py_runs += [python_baseline(sample_files, baseline_mb) for _ in range(max(0, runs - 1))]
    py_s, py_bytes = statistics.median(s for s, _ in py_runs), py_runs[0][1]
    py_rate = py_bytes / MB / py_s
    rate = mb / b["seconds"]
    rows = []
    for w, s in floors.items():
        rows.append([f"I/O floor, {w} process{'es' if w > 1 else ''}", f"{s:.2f}", f"{mb / s:,.1f}", f"{docs / s:,.0f}",
                     "-", "-", "-", "-", "1.0x", "-"])
    rows.append([f"pure Python reference, 1 process (first {py_bytes / MB:.1f} MB, median of {len(py_runs)})", f"{py_s:.2f}",
                 f"{py_rate:,.2f}", "-", "-", "-", "-", "-", "-", "1.0x"])
    rows.append(["cooc stages above, 1 process (in-process)", f"{stage_total:.2f}", f"{mb / stage_total:,.1f}",
                 f"{docs / stage_total:,.0f}", "-", "-", "-", "-", f"{stage_total / floors[1]:,.1f}x",
                 f"{mb / stage_total / py_rate:,.1f}x"])
    rows.append([f"cooc build (default), {workers} workers", f"{b['seconds']:.2f}", f"{rate:,.1f}",
                 f"{docs / b['seconds']:,.0f}", *mem_cells(b), f"{b['index_bytes'] / MB:,.1f}",
                 f"{b['seconds'] / floors[workers]:,.1f}x", f"{rate / py_rate:,.1f}x"])
    out.append(table([f"end to end (median of {runs})", "seconds", "MB/s", "docs/s", *MEM_HEADERS, "index MB",
                      "time vs I/O floor", "speed vs pure Python"], rows))
    checks = [f"- >= {TARGET_MBS:g} MB/s with {workers} workers: {rate:,.1f} MB/s, {verdict(rate >= TARGET_MBS)}",
              f"- >= {TARGET_VS_PYTHON:g}x the pure-Python reference: {rate / py_rate:,.1f}x, "
              f"{verdict(rate / py_rate >= TARGET_VS_PYTHON)}"]
    if rss_target:
        checks.append(f"- peak RSS <= {TARGET_RSS / 2**30:g} GiB: max {b['peak_max'] / 2**30:.2f} GiB over the runs, "
                      f"{verdict(b['peak_max'] <= TARGET_RSS)}")
    out.append(f"\n(time vs I/O floor: against the floor with as many processes.) Build runs: "
               f"{', '.join(f'{s:.2f}' for s in b['all_seconds'])} s; pure-Python runs: "
               f"{', '.join(f'{s:.2f}' for s, _ in py_runs)} s; peak memory: median (max) over as many sampled runs. "
               "Targets:\n" + "\n".join(checks) + "\n")
    res = {"mb": mb, "documents": docs, "stages": st["seconds"], "io_floor": floors, "python_mb_s": py_rate,
           "python_seconds": [s for s, _ in py_runs],
           "build": b, "mb_s": rate}
    return "\n".join(out), res


# ---- peer: infini-gram ---------------------------------------------------------------------

def rule_queries(files: list[Path], n_names: int = 200, n_pairs: int = 200) -> tuple[list[str], list[tuple[str, str]]]:
    """Names the reference rule finds (no numbers) in the first documents, files taken in turn, as written;
    pairs: consecutive distinct names of one document (so most co-occur)."""
    names: dict[str, None] = {}
    pairs: dict[tuple[str, str], None] = {}
    for text in source_texts([str(f) for f in files]):
        if len(names) >= n_names and len(pairs) >= n_pairs:
            break
        text = prepare(text[:3000])
        _, spans = find_spans(text, True, inner=False)
        doc = list(dict.fromkeys(span_text(text, s) for s in spans if s.kind != KIND_NUMBER))
        for n in doc:
            if len(names) < n_names:
                names[n] = None
        for a, b in pairwise(doc):
            if len(pairs) < n_pairs:
                pairs[(a, b)] = None
    return list(names), list(pairs)


def _median_us(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(times)


def _pct(xs: list[float], q: float) -> float:
    return peer_infinigram._percentile(xs, q)


OPEN_PROBE = """
import json, os, sys, time
def rss():
    with open(f"/proc/{os.getpid()}/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmRSS:"))
from cooc.scorer import Index
r0 = rss(); t0 = time.perf_counter(); ix = Index.open(sys.argv[1]); t1 = time.perf_counter(); r1 = rss()
e = ix.entity(sys.argv[2]); t2 = time.perf_counter()
print(json.dumps({"open_s": t1 - t0, "open_rss": r1 - r0, "first_lookup_s": t2 - t1, "first_lookup_rss": rss() - r1}))
"""


def cooc_latency(index_dir: Path, names: list[str], pairs: list[tuple[str, str]], repeats: int) -> dict:
    """Per query (median of `repeats`), in this process: `index.entity(name).docs`, `index.docs(name)`; a pair
    by name (`index.pair(index.id_of(a), index.id_of(b))`) and by id; batched: index.ids and index.pairs once."""
    from cooc.indexer.names import name_hash
    from cooc.scorer import Index

    probe = json.loads(subprocess.run([sys.executable, "-c", OPEN_PROBE, str(index_dir), names[0]], check=True,
                                      capture_output=True, text=True).stdout)
    index = Index.open(index_dir)
    index.entity(names[0])  # first call: numba dispatch, page faults
    entity_us = [_median_us(lambda n=n: getattr(index.entity(n), "docs", 0), repeats) for n in names]
    docs_us = [_median_us(lambda n=n: index.docs(n), repeats) for n in names]
    found = sum(index.id_of(n) >= 0 for n in names)
    ids = [(index.id_of(a), index.id_of(b)) for a, b in pairs]
    known = [(a, b) for (a, b), (x, y) in zip(pairs, ids, strict=True) if x >= 0 and y >= 0 and x != y]
    ids = [(x, y) for x, y in ids if x >= 0 and y >= 0 and x != y]
    pair_us = [_median_us(lambda a=a, b=b: index.pair(index.id_of(a), index.id_of(b)).docs, repeats) for a, b in known]
    pair_id_us = [_median_us(lambda x=x, y=y: index.pair(x, y).docs, repeats) for x, y in ids]
    nonzero = sum(index.pair(x, y).docs > 0 for x, y in ids)
    hashes = np.array([name_hash(n) for n in names], dtype=np.uint64)
    ia, ib = np.array([x for x, _ in ids], dtype=np.int64), np.array([y for _, y in ids], dtype=np.int64)
    batch_ids = _median_us(lambda: index.ids(hashes), max(repeats, 5)) / len(names)
    batch_pairs = _median_us(lambda: index.pairs(ia, ib), max(repeats, 5)) / max(len(ids), 1)
    batch_hash = _median_us(lambda: [name_hash(n) for n in names], max(repeats, 5)) / len(names)
    return {"entity_us": entity_us, "docs_us": docs_us, "pair_us": pair_us, "pair_id_us": pair_id_us,
            "found": found, "pairs_known": len(ids), "pairs_nonzero": nonzero, "batch_ids_us": batch_ids,
            "batch_pairs_us": batch_pairs, "name_hash_us": batch_hash, **probe}


def bench_peer(files: list[Path], work: Path, runs: int, workers: int, n_queries: int, repeats: int) -> tuple[str, dict]:
    mb = sum(_read_file_only(str(f))[0] for f in files) / MB
    out = [f"### Side by side with infini-gram {peer_infinigram.version()} (u8 raw-bytes index): the {len(files)} "
           f"corpus files, {mb:,.1f} MB of text\n"]
    ig_runs, cooc_runs = [], []
    for _ in range(runs):  # alternating, so both see the same load
        timed = peer_infinigram.build(files, work / "infinigram", cpus=workers, sample=False)
        ig_runs.append({**peer_infinigram.build(files, work / "infinigram", cpus=workers), "seconds": timed["seconds"]})
        cooc_runs.append(cooc_builds(files, work / "index-peer", workers, 1))
    ig = {"seconds": statistics.median(r["seconds"] for r in ig_runs), "index_bytes": ig_runs[-1]["index_bytes"],
          **peaks_of([TreeMemory(r["peak_rss_bytes"], r["peak_pss_bytes"], r["peak_unique_bytes"]) for r in ig_runs])}
    cb = {"seconds": statistics.median(r["seconds"] for r in cooc_runs), "index_bytes": cooc_runs[-1]["index_bytes"],
          **peaks_of([TreeMemory(r["peak"], r["pss"], r["unique"]) for r in cooc_runs])}
    rows = [[f"infini-gram indexer, --cpus {workers}", f"{ig['seconds']:.2f}", f"{mb / ig['seconds']:,.1f}",
             *mem_cells(ig), f"{ig['index_bytes'] / MB:,.1f}"],
            [f"cooc build (default), --workers {workers}", f"{cb['seconds']:.2f}", f"{mb / cb['seconds']:,.1f}",
             *mem_cells(cb), f"{cb['index_bytes'] / MB:,.1f}"]]
    out.append(table([f"build (median of {runs}, alternating)", "seconds", "MB/s", *MEM_HEADERS, "index MB"], rows))
    t_ratio = cb["seconds"] / ig["seconds"]
    ratios = {k: cb[k] / ig[k] for k in ("peak", "pss", "unique") if cb[k] is not None and ig[k] is not None}
    m_key = "unique" if "unique" in ratios else "pss"
    out.append(f"\ncooc / infini-gram: wall {t_ratio:.2f}x ({verdict(t_ratio <= 1)}: at or below); peak memory "
               f"{ratios.get('unique', float('nan')):.2f}x by distinct pages, {ratios['pss']:.2f}x by PSS, "
               f"{ratios['peak']:.2f}x by VmRSS summed ({verdict(ratios[m_key] <= 1)}: at or below, by "
               f"{'distinct pages' if m_key == 'unique' else 'PSS'}: every page the tree holds, once)\n")

    names, pairs = rule_queries(files, n_queries, n_queries)
    c = cooc_latency(work / "index-peer", names, pairs, repeats)
    q = peer_infinigram.query_latency(ig_runs[-1]["index_dir"], names, pairs, repeats, 1000)
    text, ratios = _peer_lookup_table(names, pairs, c, q, repeats)
    out.append(text)
    return "\n".join(out), {"infinigram_build": ig, "cooc_build": cb, "cooc_latency": {
        k: v for k, v in c.items() if not isinstance(v, list)}, "infinigram_latency": {
        k: v for k, v in q.items() if not isinstance(v, dict)}, **ratios}


def _peer_lookup_table(names: list[str], pairs: list, c: dict, q: dict, repeats: int) -> tuple[str, dict]:
    """The lookup side by side: the same strings for both engines, in this process."""
    out = []
    ig_pairs_nonzero = sum(1 for v in q["cnf_counts"].values() if v)
    p50, p99 = (lambda xs: _pct(xs, .5)), (lambda xs: _pct(xs, .99))
    ig_count, ig_pair = q["count_us_p50"], q["cnf_us_p50"]
    rows = [
        ["count: infini-gram `count`", f"{ig_count:,.1f}", f"{q['count_us_p99']:,.1f}", f"{len(names)}", "1.0x"],
        ["count: cooc `index.entity(name).docs`", f"{p50(c['entity_us']):,.1f}", f"{p99(c['entity_us']):,.1f}",
         f"{len(names)} ({c['found']} found)", f"{ig_count / p50(c['entity_us']):,.1f}x"],
        ["count: cooc `index.docs(name)`", f"{p50(c['docs_us']):,.1f}", f"{p99(c['docs_us']):,.1f}",
         f"{len(names)}", f"{ig_count / p50(c['docs_us']):,.1f}x"],
        ["pair: infini-gram `count_cnf([[a], [b]])`, 1000 B", f"{ig_pair:,.1f}", f"{q['cnf_us_p99']:,.1f}",
         f"{len(pairs)} ({ig_pairs_nonzero} > 0)", "1.0x"],
        ["pair: cooc by name, `index.pair(id_of(a), id_of(b))`", f"{p50(c['pair_us']):,.1f}",
         f"{p99(c['pair_us']):,.1f}", f"{c['pairs_known']} ({c['pairs_nonzero']} > 0)",
         f"{ig_pair / p50(c['pair_us']):,.1f}x"],
        ["pair: cooc by id, `index.pair(a, b)`", f"{p50(c['pair_id_us']):,.1f}", f"{p99(c['pair_id_us']):,.1f}",
         f"{c['pairs_known']}", f"{ig_pair / p50(c['pair_id_us']):,.1f}x"],
        ["batched: cooc `index.ids(hashes)`, per name", f"{c['batch_ids_us']:,.2f}", "-", f"{len(names)}",
         f"{ig_count / c['batch_ids_us']:,.0f}x"],
        ["batched: cooc `index.pairs(a, b)`, per pair", f"{c['batch_pairs_us']:,.2f}", "-", f"{c['pairs_known']}",
         f"{ig_pair / c['batch_pairs_us']:,.0f}x"],
        ["(cooc `name_hash(name)` alone, per name)", f"{c['name_hash_us']:,.1f}", "-", f"{len(names)}", "-"],
    ]
    out.append(table([f"lookup (median of {repeats} per query)", "p50 us", "p99 us", "queries", "speed vs infini-gram"],
                     rows))
    r_entity, r_docs = ig_count / p50(c["entity_us"]), ig_count / p50(c["docs_us"])
    r_pair = ig_pair / p50(c["pair_us"])
    out.append(f"\nQueries: {len(names)} names the reference rule finds in the first documents (files in turn) and "
               f"{len(pairs)} pairs of consecutive names of one document; the same strings for both engines, in this "
               "process. infini-gram counts byte-string occurrences (case-sensitive, no word boundaries); cooc counts "
               f"documents. Open: cooc `Index.open` {c['open_s'] * 1000:.1f} ms, +{c['open_rss'] / MIB:.1f} MiB RSS "
               f"(fresh process, after `import cooc.scorer`), then the first lookup {c['first_lookup_s'] * 1000:.0f} "
               f"ms, +{c['first_lookup_rss'] / MIB:.1f} MiB (numba kernels loaded); infini-gram engine "
               f"{q['open_seconds'] * 1000:.1f} ms.\n"
               f"- count lookups >= {TARGET_LOOKUP:g}x faster (p50): `index.docs` {r_docs:,.1f}x, "
               f"{verdict(r_docs >= TARGET_LOOKUP)}; `index.entity` {r_entity:,.1f}x, "
               f"{verdict(r_entity >= TARGET_LOOKUP)}\n"
               f"- pair lookups by name >= {TARGET_LOOKUP:g}x faster (p50): {r_pair:,.1f}x, "
               f"{verdict(r_pair >= TARGET_LOOKUP)}\n")
    return "\n".join(out), {"count_ratio_docs": r_docs, "count_ratio_entity": r_entity, "pair_ratio": r_pair}


# ---- sketch --------------------------------------------------------------------------------

def sketch_table(sizes: list[int], depth: int, seed: int = 1) -> str:
    """Insert n distinct pairs with Zipf-like counts into the sketch a merge sizes by default for n
    pruned pairs (added as the merge adds them: each key once with its total); probe fresh keys."""
    rows = []
    rng = np.random.default_rng(seed)
    for n in sizes:
        shape = sketch_shape(MergeOptions(sketch_depth=depth), n)
        s = CountMinSketch(shape)
        keys = rng.integers(1, 2**63, n, dtype=np.uint64)
        counts = np.minimum(rng.zipf(1.8, n), 2**31).astype(np.int64)
        t0 = time.perf_counter()
        for i in range(0, n, 1 << 22):
            s.add_totals(keys[i : i + (1 << 22)], counts[i : i + (1 << 22)])
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


# ---- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", required=True, help="corpus files or directories (the shared corpus)")
    ap.add_argument("--copies", type=int, default=10, help="dataset (a): the corpus copied this many times (0: skip)")
    ap.add_argument("--generated-gb", type=float, default=2.0, help="dataset (b), GB of text (0: skip)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline-mb", type=float, default=5.0)
    ap.add_argument("--queries", type=int, default=200, help="names and pairs for the lookup comparison")
    ap.add_argument("--repeats", type=int, default=5, help="times each lookup is repeated (its median is taken)")
    ap.add_argument("--no-peer", action="store_true", help="skip the infini-gram comparison")
    ap.add_argument("--sketch-sizes", default="1000000,10000000,100000000", help="comma-separated; empty: skip")
    ap.add_argument("--work", type=Path, default=Path(".cooc/bench"))
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    work = a.work.resolve()
    files = resolve_inputs(a.corpus)
    load = os.getloadavg()[0]
    report = [f"## Build benchmark\n\nMachine: {os.cpu_count()} cores, load average {load:.2f} at the start. "
              f"Every cooc build: `cooc build FILES -o OUT --workers {a.workers} --force -q` (the default index: "
              "every name the rule finds, inner names, window 1000), a fresh output each run.\n"]
    results: dict = {}

    def emit(section: str) -> None:
        report.append(section)
        print(section, flush=True)

    print(report[0], flush=True)
    warm_up(work)
    if a.copies > 0:
        copies = copied_corpus(files, a.copies, work / f"corpus-{a.copies}x")
        text, results["copies"] = bench_dataset(f"corpus copied {a.copies}x", copies, files, work, a.runs,
                                                a.workers, a.baseline_mb, rss_target=False)
        emit(text)
    if a.generated_gb > 0:
        gen = generated_corpus(files, a.generated_gb, work, a.workers)
        text, results["generated"] = bench_dataset(f"generated {a.generated_gb:g} GB", gen, gen, work, a.runs,
                                                   a.workers, a.baseline_mb, rss_target=True)
        emit(text)
    if not a.no_peer:
        if not peer_infinigram.available():
            emit("### Side by side with infini-gram: skipped (pip install infini-gram==2.6.0 numpy transformers)\n")
        else:
            text, results["peer"] = bench_peer(files, work, a.runs, a.workers, a.queries, a.repeats)
            emit(text)
    sizes = [int(x) for x in a.sketch_sizes.split(",") if x]
    if sizes:
        emit(f"### Sketch error: default sketch (sized to the pairs for {TARGET_FPR:.0%} false positives, at most "
             f"{AUTO_SKETCH_MAX_MB} MiB; depth {DEFAULT_DEPTH}), Zipf(1.8) pair counts, 1M never-seen probe keys\n\n"
             + sketch_table(sizes, DEFAULT_DEPTH) + "\n")
    (work / "results.md").write_text("\n".join(report) + "\n")
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(json.dumps({"written": [str(work / "results.md"), str(work / "results.json")]}))


if __name__ == "__main__":
    main()
