"""The evidence store: what it adds to a build, its size, and how fast it answers.

    python -m benchmarks.bench_evidence --corpus ../shared/data/corpus --runs 3

Measured in one run, on the same machine state: the default build and the same build with
--no-evidence (`cooc build ... --workers W --force -q` as subprocesses, taken in turn, median of
--runs), and, steadier on a shared machine, the stage times of one in-process pass (the evidence
writer's own time against read + count + store + merge: the overhead the target is checked on); the store's size against the rest of the index, and the size a store without the text
would have (the same documents indexed with positions but no stored text: snippets would then
have to re-read compressed shards); then, in this process, p50/p95 of `Index.evidence` (up to 10
documents with snippets), of a document-level AND count, and of `Index.retrieve` (BM25 top 3), for
pairs of names the rule finds in the corpus; and the same counts over the published store (one
index of all segments) against searching each part's store in turn and summing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cooc.indexer.evidence import part_store
from cooc.indexer.parts import load_done
from cooc.indexer.read import ReadOptions, ReadStats, read_file, resolve_inputs
from cooc.scorer import Index
from cooc.scorer.evidence import EvidenceStore

from .bench_build import _pct, cooc_command, dir_bytes, rule_queries, stages, table, timed_subprocess, verdict

TARGET_P50_MS = 1.0  # `cooc evidence` (the library call), shared corpus
TARGET_BUILD_OVERHEAD = 0.30  # the evidence store adds at most 30% to the build


def builds(files: list[Path], work: Path, workers: int, runs: int) -> dict[str, list[float]]:
    """Wall seconds of the default build and of --no-evidence, alternating so load drift hits both."""
    walls: dict[str, list[float]] = {"default": [], "no-evidence": []}
    for _ in range(runs):
        for name, extra in (("default", []), ("no-evidence", ["--no-evidence"])):
            out = work / name
            shutil.rmtree(out, ignore_errors=True)
            cmd = [*cooc_command(), "build", *map(str, files), "-o", str(out), "--workers", str(workers), "--force",
                   "-q", *extra]
            walls[name].append(timed_subprocess(cmd, sample=False)[0])  # wall only: sampling would slow it
    return walls


def textless_store_bytes(files: list[Path], dest: Path) -> int:
    """A store of the same documents with positions but without the stored text (the offsets design)."""
    import tantivy

    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=False, tokenizer_name="cooc", index_option="position")
    sb.add_unsigned_field("record", stored=True)
    index = tantivy.Index(sb.build(), path=str(dest))
    from cooc.indexer.evidence import TOKENIZER, analyzer

    index.register_tokenizer(TOKENIZER, analyzer())
    writer = index.writer(heap_size=64_000_000, num_threads=1)
    for f in files:
        for batch in read_file(f, ReadOptions(), ReadStats()):
            for text, record in zip(batch.texts, batch.records, strict=True):
                d = tantivy.Document()
                d.add_text("text", text)
                d.add_unsigned("record", record)
                writer.add_document(d)
    writer.commit()
    writer.wait_merging_threads()
    return sum(p.stat().st_size for p in dest.iterdir() if p.is_file())


def latency_ms(fn: Callable[[object], object], items: list, repeats: int) -> list[float]:
    """Per item, the median over `repeats` calls (the first call of each item warms its caches off the clock)."""
    out = []
    for item in items:
        fn(item)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter_ns()
            fn(item)
            times.append((time.perf_counter_ns() - t0) / 1e6)
        out.append(statistics.median(times))
    return out


def part_searchers(index_dir: Path) -> list[EvidenceStore]:
    pdir = index_dir / "parts"
    return [EvidenceStore(part_store(pdir, d["part"])) for d in load_done(pdir)]


def uncached(store: EvidenceStore, names: list[str]) -> int:
    return store._count_uncached(store.terms(names))


@dataclass
class Latencies:
    """Per name pair, the median ms of each query (see latency_ms); `same`: the published store counts what
    the part stores, searched in turn, count in sum."""

    pairs: list[list[str]]
    evidence: list[float]
    count: list[float]
    parts: list[float]
    retrieve: list[float]
    n_parts: int
    same: bool


def latencies(index: Index, index_dir: Path, files: list[Path], queries: int, repeats: int) -> Latencies:
    _, pairs = rule_queries(files, n_pairs=queries)
    pairs = [list(p) for p in pairs]
    ev_ms = latency_ms(lambda p: index.evidence(p, limit=10), pairs, repeats)
    count_ms = latency_ms(lambda p: uncached(index.store, p), pairs, repeats)
    parts = part_searchers(index_dir)
    parts_ms = latency_ms(lambda p: sum(uncached(s, p) for s in parts), pairs, repeats)
    same = all(uncached(index.store, p) == sum(uncached(s, p) for s in parts) for p in pairs)
    retrieve_ms = latency_ms(lambda p: index.retrieve(f"Who is {p[0]} and what about {p[1]}?", 3), pairs, repeats)
    return Latencies(pairs, ev_ms, count_ms, parts_ms, retrieve_ms, len(parts), same)


def report(a: argparse.Namespace, files: list[Path], walls: dict[str, list[float]], st: dict[str, float],
           index: Index, counts_bytes: int, textless: int, lat: Latencies) -> list[str]:
    """results.md: the builds, the evidence writer's stage share, the sizes on disk and the query latencies."""
    with_ev, without = statistics.median(walls["default"]), statistics.median(walls["no-evidence"])
    overhead = st["evidence"] / (sum(st.values()) - st["evidence"])
    ev = index.manifest["evidence"]
    p50 = _pct(lat.evidence, 0.5)
    mb = 1e6
    return [
        "# The evidence store (generated by `python -m benchmarks.bench_evidence`)", "",
        f"Corpus: {', '.join(map(str, a.corpus))} ({index.documents:,} documents, {len(files)} files). Builds: "
        f"median of {a.runs}, {a.workers} workers, taken in turn; latencies: median of {a.repeats} calls per query, "
        f"then p50/p95 over {len(lat.pairs)} name pairs the rule finds in the corpus (2 cores shared with other jobs: "
        "timings are noisy; the ratios are from the same run).", "",
        table(["build", "seconds (median)", "all runs", "vs --no-evidence"], [
            ["default (with the evidence store)", f"{with_ev:.1f}", ", ".join(f"{w:.1f}" for w in walls["default"]),
             f"{with_ev / without:.2f}x"],
            ["--no-evidence", f"{without:.1f}", ", ".join(f"{w:.1f}" for w in walls["no-evidence"]), "1.00x"],
        ]), "",
        table(["stage (1 process, in-process timer of count_shard)", "seconds"],
              [[k, f"{v:.2f}"] for k, v in st.items()]
              + [[f"evidence / everything else: +{overhead:.0%} (target <= +{TARGET_BUILD_OVERHEAD:.0%}: "
                  f"{verdict(overhead <= TARGET_BUILD_OVERHEAD)})", ""]]), "",
        table(["on disk", "MB"], [
            ["counts (names, pairs, DuckDB, arrays; no parts)", f"{counts_bytes / mb:.1f}"],
            [f"evidence store, text stored ({ev['segments']} segments, merged in {ev['merge_seconds']:.3f}s)",
             f"{ev['bytes'] / mb:.1f}"],
            ["evidence store without the text (offsets only; not built)", f"{textless / mb:.1f}"],
            ["the corpus files (compressed)", f"{sum(f.stat().st_size for f in files) / mb:.1f}"],
        ]), "",
        table(["query (in process)", "p50 ms", "p95 ms"], [
            [f"Index.evidence(pair, limit=10): documents + snippets (target p50 <= {TARGET_P50_MS} ms: "
             f"{verdict(p50 <= TARGET_P50_MS)})", f"{p50:.3f}", f"{_pct(lat.evidence, 0.95):.3f}"],
            ["AND count, published store (one index of all segments)", f"{_pct(lat.count, 0.5):.3f}",
             f"{_pct(lat.count, 0.95):.3f}"],
            [f"AND count, each of the {lat.n_parts} part stores in turn, summed (same counts: {lat.same})",
             f"{_pct(lat.parts, 0.5):.3f}", f"{_pct(lat.parts, 0.95):.3f}"],
            ["Index.retrieve(question, k=3): BM25", f"{_pct(lat.retrieve, 0.5):.3f}", f"{_pct(lat.retrieve, 0.95):.3f}"],
        ]), "",
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path(".cooc/bench-evidence"))
    ap.add_argument("--out", type=Path, help="results file (default: WORK/results.md)")
    a = ap.parse_args(argv)
    files = resolve_inputs(a.corpus)
    a.work.mkdir(parents=True, exist_ok=True)
    walls = builds(files, a.work, a.workers, a.runs)
    st = stages(files, a.work)["seconds"]  # one process: the evidence writer's own time in count_shard
    index_dir = a.work / "default"
    index = Index.open(index_dir)
    textless = textless_store_bytes(files, a.work / "textless")
    lat = latencies(index, index_dir, files, a.queries, a.repeats)
    counts_bytes = dir_bytes(index_dir) - index.manifest["evidence"]["bytes"]
    md = report(a, files, walls, st, index, counts_bytes, textless, lat)
    a.out = a.out or a.work / "results.md"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(md), encoding="utf-8")
    (a.work / "evidence.json").write_text(json.dumps({"walls": walls, "evidence_ms": lat.evidence,
                                                      "count_ms": lat.count, "parts_ms": lat.parts,
                                                      "retrieve_ms": lat.retrieve}))
    print("\n".join(md))
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
