"""Peer measurement: the local infini-gram engine (PyPI `infini-gram`, 2.6.0) on the same corpus files.

    python -m benchmarks.peer_infinigram --corpus ../shared/data/corpus --work /tmp/ig

What is measured, and how:
- build: `python -m infini_gram.indexing --token_dtype u8` as a subprocess on a fresh data dir of
  symlinks to the files. u8 is a raw-bytes index (token id = UTF-8 byte, documents separated by 0xff):
  no tokenizer is loaded, nothing is downloaded (the indexer still does `import transformers`, so that
  package must be installed, and numpy, which the package does not declare). `--ulimit` is the
  machine's hard limit of open files (the indexer sets soft = hard = --ulimit; its default, 2**20,
  is refused above the hard limit, even as root in a sandbox). Wall seconds include interpreter
  start and that import (~1.5 s); peak memory of the process tree (Python, its fork pool, the
  rust_indexing children) by `treemem.py`'s three measures: VmRSS summed (pages shared after fork
  count once per process), PSS summed, and distinct resident pages. Index bytes: the files the
  engine reads (tokenized.0 = the text, table.0 = suffix array, offset.0 = document offsets).
- queries: `InfiniGramEngine.count` for a name, `count_cnf([[a], [b]])` for a pair, each query
  repeated and its median taken; p50/p99 over the queries, in microseconds, in this process.
  Matching is on raw bytes: case-sensitive and with no word boundaries ("Bob" also counts in
  "Bobby"). `count` counts occurrences, not documents. `count_cnf` counts occurrences of the rarer
  phrase with the other within `max_diff_tokens` bytes; the engine then drops every match whose
  span crosses a document separator, and the span of one anchor reaches to the nearest occurrence
  of the other phrase on *both* sides, so an in-document co-occurrence is also lost when the other
  phrase recurs across the boundary within the window (an undercount that grows with the window and
  with short documents: -6% at 1000 bytes, -0.4% at 100 on the shared corpus, whose documents
  average ~940 bytes). `max_clause_freq` defaults to the corpus size, so no clause is subsampled
  and counts are exact in the engine's own sense (`count` matched a plain byte search on all 200
  sample names).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

from .treemem import run_measured

SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")  # what infini_gram.indexing.load_file reads
# Engine args for a u8 index: the C++ engine types vocab_size as the token type (uint8), so 255 is its
# largest value, and the wrapper asserts eos_token_id < vocab_size. count/count_cnf never read
# eos_token_id (the document separator is fixed at 0xff); 254 never occurs in UTF-8.
U8_ENGINE_ARGS = {"token_dtype": "u8", "vocab_size": 255, "eos_token_id": 254, "version": 4}


def available() -> bool:
    """Whether infini-gram's engine imports and its indexer's undeclared dependencies are installed."""
    try:
        import infini_gram.engine  # noqa: F401
    except ImportError:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("numpy", "transformers"))


def version() -> str:
    from importlib.metadata import version as v

    return v("infini-gram")


def build(files: list[Path], workdir: Path, cpus: int | None = None, mem_gib: int | None = None,
          sample: bool = True) -> dict:
    """Index `files` with infini-gram (u8) under `workdir` (data/, index/, index.log are replaced).

    `cpus` defaults to all cores (a corpus of a few hundred bytes fails with more than 1: the
    indexer's concat step panics). `mem_gib` (default: half the machine's memory) sets how much text
    one suffix-array batch takes, mem/12 GiB; measured peak RSS is ~18 bytes per text byte of a
    batch, so ~1.5 x mem_gib once the text exceeds mem/12 GiB. Disk: the index is 5 bytes per text
    byte (6 past 4 GiB), with up to ~9 during the build. Returns seconds, peak_rss_bytes,
    index_bytes, index_dir (str); `sample=False`: no memory sampling (peaks 0), for timing.
    """
    workdir = workdir.resolve()  # the indexer chdirs into its package dir: paths must be absolute
    data, index, log = workdir / "data", workdir / "index", workdir / "index.log"
    for d in (data, index):
        shutil.rmtree(d, ignore_errors=True)
    data.mkdir(parents=True)
    for i, f in enumerate(files):
        if not f.name.endswith(SUFFIXES):
            raise ValueError(f"infini-gram reads only {', '.join(SUFFIXES)}: {f}")
        (data / f"{i:04d}-{f.name}").symlink_to(f.resolve())
    cpus = cpus or os.cpu_count() or 1
    mem_gib = mem_gib or max(1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**31)
    ulimit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    cmd = [sys.executable, "-m", "infini_gram.indexing", "--data_dir", str(data), "--save_dir", str(index),
           "--token_dtype", "u8", "--cpus", str(cpus), "--mem", str(mem_gib), "--ulimit", str(ulimit)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    m = run_measured(cmd, log, env, sample)
    rc = m.returncode
    # the indexer can print "Something went wrong" and still leave table.0 behind: check both
    leftovers = [p.name for p in index.glob("*-*") if p.is_dir()]  # parts-0 / merged-0 mean a failed step
    if rc or leftovers or not (index / "table.0").exists():
        tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-5:])
        raise RuntimeError(f"infini-gram indexing failed (exit {rc}; see {log}):\n{tail}")
    index_bytes = sum(p.stat().st_size for p in index.iterdir() if p.is_file())
    return {"seconds": m.seconds, "peak_rss_bytes": m.peak.rss, "peak_pss_bytes": m.peak.pss,
            "peak_unique_bytes": m.peak.unique, "index_bytes": index_bytes, "index_dir": str(index)}


def _percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]); 0.0 for no data."""
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _median_us(fn: Callable[[], dict], repeats: int) -> tuple[float, dict]:
    times, result = [], {}
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        result = fn()
        times.append((time.perf_counter_ns() - t0) / 1000)
    if "error" in result:
        raise RuntimeError(f"infini-gram query failed: {result['error']}")
    return statistics.median(times), result


def query_latency(index_dir: Path | str, names: list[str], pairs: list[tuple[str, str]], repeats: int = 3,
                  max_diff_tokens: int = 1000, max_clause_freq: int | None = None) -> dict:
    """Median-of-`repeats` time of `count` per name and `count_cnf` per pair; p50/p99 over queries (us).

    Also returns counts (name -> occurrences), cnf_counts ("a\\tb" -> count), cnf_approx (how many
    CNF results the engine marked approximate, 0 unless max_clause_freq is set below a clause's
    frequency) and open_seconds (engine construction: mmap of the index files).
    """
    from infini_gram.engine import InfiniGramEngine

    index_dir = Path(index_dir)
    if max_clause_freq is None:  # at most one occurrence per byte: never subsample
        max_clause_freq = max(1, sum(p.stat().st_size for p in index_dir.glob("tokenized.*")))
    t0 = time.perf_counter()
    engine = InfiniGramEngine(index_dir=str(index_dir), **U8_ENGINE_ARGS)
    open_seconds = time.perf_counter() - t0

    def ids(s: str) -> list[int]:
        return list(s.encode("utf-8"))

    names = list(dict.fromkeys(names))
    pairs = list(dict.fromkeys(pairs))
    count_us, counts = [], {}
    for name in names:
        q = ids(name)
        us, r = _median_us(lambda q=q: engine.count(input_ids=q), repeats)
        count_us.append(us)
        counts[name] = r["count"]
    cnf_us, cnf_counts, approx = [], {}, 0
    for a, b in pairs:
        cnf = [[ids(a)], [ids(b)]]
        us, r = _median_us(lambda cnf=cnf: engine.count_cnf(cnf=cnf, max_clause_freq=max_clause_freq,
                                                              max_diff_tokens=max_diff_tokens), repeats)
        cnf_us.append(us)
        cnf_counts[f"{a}\t{b}"] = r["count"]
        approx += bool(r["approx"])
    return {
        "count_us_p50": _percentile(count_us, 0.5), "cnf_us_p50": _percentile(cnf_us, 0.5),
        "count_us_p99": _percentile(count_us, 0.99), "cnf_us_p99": _percentile(cnf_us, 0.99),
        "counts": counts, "cnf_counts": cnf_counts, "cnf_approx": approx,
        "n_names": len(names), "n_pairs": len(pairs), "open_seconds": open_seconds,
    }


# ---- sample queries for the command line: capitalized words of the first documents ----

STOP = {"The", "This", "That", "These", "Those", "There", "Then", "They", "Their", "What", "When", "Where",
        "Which", "While", "With", "From", "For", "And", "But", "Its", "His", "Her", "Our", "You", "Yet",
        "All", "Any", "Some", "Each", "Many", "Most", "Other", "Such", "After", "Before", "During", "Since",
        "Under", "Over", "Into", "Both", "Not", "Now", "Let", "May", "One", "Two"}
WORD = re.compile(r"\b[A-Z][a-z]{2,}\b")


def _texts(path: Path) -> Iterator[str]:
    if path.name.endswith(".zst"):
        import io

        import zstandard

        fh = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")), encoding="utf-8")
    else:
        opener = gzip.open if path.name.endswith(".gz") else open
        fh = opener(path, "rt", encoding="utf-8")
    with fh:
        for line in fh:
            yield json.loads(line)["text"]


def sample_queries(
    files: list[Path], n_names: int = 200, n_pairs: int = 200
) -> tuple[list[str], list[tuple[str, str]]]:
    """Names: capitalized words (not in STOP) of the first documents, files taken in turn. Pairs:
    consecutive distinct names within one document (so most do co-occur)."""
    names: dict[str, None] = {}
    pairs: dict[tuple[str, str], None] = {}
    streams = [_texts(f) for f in files]
    while streams and (len(names) < n_names or len(pairs) < n_pairs):
        for it in list(streams):
            text = next(it, None)
            if text is None:
                streams.remove(it)
                continue
            doc = list(dict.fromkeys(w for w in WORD.findall(text) if w not in STOP))
            for w in doc:
                if len(names) < n_names:
                    names[w] = None
            for a, b in pairwise(doc):
                if len(pairs) < n_pairs:
                    pairs[(a, b)] = None
    return list(names), list(pairs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="dir of *.jsonl[.gz] files (field `text`)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ig"), help="scratch dir (data/, index/ replaced)")
    ap.add_argument("--names", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-diff-tokens", type=int, default=1000, help="CNF window, in bytes for a u8 index")
    ap.add_argument("--cpus", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    args = ap.parse_args(argv)
    if not available():
        raise SystemExit("infini-gram is not installed: pip install infini-gram==2.6.0 numpy transformers")
    files = sorted(p for p in args.corpus.iterdir() if p.name.endswith(SUFFIXES))
    if not files:
        raise SystemExit(f"no {', '.join(SUFFIXES)} files in {args.corpus}")
    b = build(files, args.work, cpus=args.cpus)
    text_bytes = sum(p.stat().st_size for p in Path(b["index_dir"]).glob("tokenized.*"))
    names, pairs = sample_queries(files, args.names, args.pairs)
    q = query_latency(Path(b["index_dir"]), names, pairs, args.repeats, args.max_diff_tokens)
    mb = 1e6
    print(f"infini-gram {version()} (u8 raw bytes), {len(files)} files, {text_bytes / mb:.1f} MB indexed")
    print(f"{'':<10} {'value':>12}  detail")
    print(f"{'build':<10} {b['seconds']:>10.2f} s  {text_bytes / mb / b['seconds']:.1f} MB/s")
    print(f"{'peak RSS':<10} {b['peak_rss_bytes'] / mb:>9.1f} MB  process tree, VmRSS summed, 50 ms samples")
    print(f"{'peak PSS':<10} {b['peak_pss_bytes'] / mb:>9.1f} MB  process tree, Pss summed")
    if b["peak_unique_bytes"] is not None:
        print(f"{'peak mem':<10} {b['peak_unique_bytes'] / mb:>9.1f} MB  process tree, distinct resident pages")
    print(f"{'index':<10} {b['index_bytes'] / mb:>9.1f} MB  {b['index_bytes'] / text_bytes:.2f} x text")
    nonzero = sum(1 for v in q["cnf_counts"].values() if v)
    print(f"{'count':<10} {q['count_us_p50']:>9.1f} us  p50; p99 {q['count_us_p99']:.1f} us;"
          f" {q['n_names']} names")
    print(f"{'count_cnf':<10} {q['cnf_us_p50']:>9.1f} us  p50; p99 {q['cnf_us_p99']:.1f} us;"
          f" {q['n_pairs']} pairs, window {args.max_diff_tokens} B, {nonzero} non-zero")
    if args.json:
        print(json.dumps({"build": b, "query": q}, indent=1))


if __name__ == "__main__":
    main()
