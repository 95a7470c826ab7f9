"""Sum per-shard parts into an index: DuckDB GROUP BYs over the parts' Parquet files.

Names are keyed by hash, so parts from any rank, machine or Ray task merge with no shared
vocabulary; parts counted with different settings are refused. Two different names with the
same 64-bit hash (told apart by their second hash) are counted and reported. The result
depends only on the set of parts: merging the parts of A and of B equals building A and B
together. Here the one-word names the corpus mostly writes in lowercase become common words
(kept, flagged, and left out of the pair table). A name's display form is the first surface
form of the run that counted it in the most documents (a gazetteer's canonical name first;
ties: the alphabetically first), so the same parts always give the same index.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from . import spans
from .alloc import LLVM, give_back_freed_memory, release_library_pages
from .buckets import (
    PAIR_SPLIT,
    BucketPlan,
    default_buckets,
    load_array,
    names_bucket,
    pairs_bucket,
    plan_files,
    read_names,
    save_name_keys,
    work_dir,
)
from .buckets import warm_kernels as warm_bucket_kernels  # parts.py has its own warm_kernels
from .count import WINDOW_DOC
from .duck import write_errors
from .errors import CoocError
from .evidence import merge_stores, part_store
from .layout import ARRAYS, COMMON_FLAG, EVIDENCE_DIR, FORMAT, FORMAT_VERSION, PARTS_DIR
from .lock import DirectoryLock
from .names import KIND_GAZETTEER, KIND_NUMBER, KIND_TITLE
from .parts import load_done
from .runner import LocalRunner, Runner, Task, default_processes
from .sketch import AUTO_SKETCH_MAX_MB, DEFAULT_DEPTH, CountMinSketch, SketchShape, hll_estimate, sketch_error
from .spans import NAME_LABEL, NUMBER_LABEL, TITLE_LABEL
from .store import NameTable, Pairs, check_output, publish, staging_dir, write_index

ALIASES_FILE = "aliases.parquet"
#: How a name's identity is computed (indexer/names.py), recorded in every manifest.
_HASH_SPEC = {
    "token": {"function": "FNV-1a 64 of the case-folded UTF-8 token", "offset": hex(spans.FNV_OFFSET),
              "prime": hex(spans.FNV_PRIME)},
    "sequence": {"function": "h = mix((h ^ token) * mul), mix = xorshift 33, * 0xC4CEB9FE1A85EC53, xorshift 29",
                 "seed": hex(spans.SEQ_SEED), "mul": hex(spans.SEQ_MUL)},
    "check": {"seed": hex(spans.SEQ2_SEED), "mul": hex(spans.SEQ_MUL2 | 1)},
}


def cooc_version() -> str:
    try:
        return version("cooc")
    except PackageNotFoundError:
        return "unknown"


@dataclass(kw_only=True)
class MergeOptions:
    min_pair_docs: int = 1  # pairs below this stay only in the sketch (built only when something is pruned)
    sketch_mb: float | None = None  # None: sized to the pruned pairs (sketch_shape)
    sketch_depth: int = DEFAULT_DEPTH
    memory_limit: str = "2GB"  # per names-bucket task: DuckDB spills to disk beyond this
    buckets: int = 0  # reduce tasks (a power of two); 0: one per ~16M pair rows of the parts
    workers: int = 1  # local processes reducing buckets in parallel (each gets cores / workers DuckDB threads)
    evidence: bool = True  # publish the parts' evidence stores as one (`--no-evidence`: none)

    def __post_init__(self) -> None:
        if self.buckets < 0 or self.buckets & (self.buckets - 1):
            raise CoocError(f"buckets must be a power of two (or 0 for automatic), got {self.buckets}")
        if self.min_pair_docs < 1:
            raise CoocError(f"min_pair_docs must be >= 1, got {self.min_pair_docs}")
        if self.workers < 1:
            raise CoocError(f"workers must be >= 1, got {self.workers}")


class Laps(dict):
    """Seconds per stage of a merge, in order (MergeResult.stages; the scale benchmark prints them)."""

    def __init__(self) -> None:
        super().__init__()
        self._start = self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self[stage] = round(self.get(stage, 0.0) + now - self._last, 3)
        self._last = now

    def total(self) -> float:
        return time.perf_counter() - self._start


@dataclass
class MergeResult:
    output: Path
    documents: int
    tokens: int
    bytes: int
    skipped: dict
    duplicates: int
    names: int
    common_words: int
    pairs: int  # distinct pairs counted (without common words)
    pairs_kept: int  # in the exact table (>= min_pair_docs)
    parts: int
    collisions: int  # distinct names sharing a 64-bit hash
    buckets: int  # of the reduce
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds of names, pairs, concatenate, sketch, evidence, write


def parts_dir_of(source: Path) -> Path:
    """A parts directory, or an index / build directory that has one."""
    if (source / PARTS_DIR).is_dir():
        return source / PARTS_DIR
    if source.is_dir() and any(source.glob("*.done.json")):
        return source
    raise CoocError(f"{source}: no parts here (expected a parts directory or an index built with parts)")


def collect(sources: list[Path]) -> list[tuple[Path, dict]]:
    """All finished parts of the sources, checked to be mergeable."""
    parts: dict[str, tuple[Path, dict]] = {}
    settings = None
    for source in sources:
        pdir = parts_dir_of(Path(source))
        for done in load_done(pdir):
            if settings is None:
                settings = done["settings"]
            elif done["settings"] != settings:
                diff = sorted(k for k in settings if settings[k] != done["settings"].get(k))
                raise CoocError(f"{pdir}: part {done['part']} differs in {', '.join(diff)}; parts must share them to merge")
            if done["part"] in parts and parts[done["part"]][0] != pdir:
                raise CoocError(f"part {done['part']} is in both {parts[done['part']][0]} and {pdir}; merge it once")
            parts[done["part"]] = (pdir, done)
    if not parts:
        raise CoocError("no finished parts to merge")
    return [parts[k] for k in sorted(parts)]


def _label_of(kinds: np.ndarray, labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """A gazetteer label where there is one, else NUMBER, TITLE (only ever quoted) or NAME."""
    names = [NAME_LABEL, TITLE_LABEL, NUMBER_LABEL]
    out = []
    for k, lab in zip(kinds.tolist(), labels, strict=True):
        if lab:
            out.append(lab)
        elif k & (1 << KIND_NUMBER):
            out.append(NUMBER_LABEL)
        elif k == 1 << KIND_TITLE:
            out.append(TITLE_LABEL)
        else:
            out.append(NAME_LABEL)
    vocab = sorted(set(out) | set(names))
    code = {lab: i for i, lab in enumerate(vocab)}
    if len(vocab) > 1 << 16:
        raise CoocError(f"the gazetteer has {len(vocab):,} distinct labels; at most 65,536 are supported")
    return np.array([code[x] for x in out], dtype=np.uint16), vocab


def name_table(rows: pa.Table) -> tuple[NameTable, int, int]:
    """The name table from every bucket's summed names (in hash order): common-word flags and labels; the
    collisions; the longest name in tokens (how far the scorer's n-gram lookup must reach)."""
    kinds = rows["kinds"].to_numpy()
    labels = rows["label"].to_pylist()
    mentions = rows["mentions"].to_numpy()
    lower = rows["lower"].to_numpy()
    curated = (kinds & (1 << KIND_GAZETTEER)) != 0
    common = (rows["ntok"].to_numpy() == 1) & (lower > mentions) & ~curated & ((kinds & (1 << KIND_NUMBER)) == 0)
    codes, vocab = _label_of(kinds, labels)
    table = NameTable(
        hash=rows["hash"].to_numpy(), check=rows["chk"].to_numpy(), docs=rows["docs"].to_numpy(),
        mentions=mentions, lower=lower, flags=(kinds & 0x1F).astype(np.uint8) | np.where(common, COMMON_FLAG, 0).astype(np.uint8),
        label=codes, names=rows["name"].to_pylist(), labels=vocab,
        alias_hash=np.zeros(0, np.uint64), alias_id=np.zeros(0, np.int64),
    )
    ntok = rows["ntok"].to_numpy()
    return table, int((rows["checks"].to_numpy() > 1).sum()), int(ntok.max()) if ntok.size else 1


def _aliases(table: NameTable, parts: list[tuple[Path, dict]]) -> None:
    """Gazetteer aliases (alias hash -> canonical name id), from the parts directories that hold them."""
    found: dict[int, int] = {}
    for pdir in sorted({d for d, _ in parts}):
        if (pdir / ALIASES_FILE).is_file():
            t = pq.read_table(pdir / ALIASES_FILE)
            found.update(zip(t["alias_hash"].to_pylist(), t["canonical_hash"].to_pylist(), strict=True))
    if not found:
        return
    alias = np.array(sorted(found), dtype=np.uint64)
    canon = np.array([found[int(a)] for a in alias], dtype=np.uint64)
    idx = np.minimum(np.searchsorted(table.hash, canon), max(table.hash.size - 1, 0))
    ok = table.hash[idx] == canon if table.hash.size else np.zeros(alias.size, bool)
    table.alias_hash, table.alias_id = alias[ok], idx[ok].astype(np.int64)


def _pair_arrays(staging: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The index's pair arrays, preallocated as memory-mapped .npy files: the exact table is written
    as it streams out of DuckDB, never held (or sorted) in memory."""
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    keys = np.lib.format.open_memmap(staging / ARRAYS["pair_keys"][0], mode="w+", dtype=np.uint64, shape=(n,))
    docs = np.lib.format.open_memmap(staging / ARRAYS["pair_docs"][0], mode="w+", dtype=np.int64, shape=(n,))
    return keys, docs


def _plan(parts: list[tuple[Path, dict]], output: Path, opts: MergeOptions, runner: Runner) -> BucketPlan:
    buckets = opts.buckets or default_buckets(sum(done.get("pairs", 0) for _, done in parts), runner.processes)
    fingerprint = {"parts": [(d["part"], d["settings_key"], d["size"], d["mtime_ns"], d["runs"]) for _, d in parts],
                   "buckets": buckets, "min_pair_docs": opts.min_pair_docs, "pair_split": PAIR_SPLIT}
    return BucketPlan(work=str(work_dir(output, fingerprint)), buckets=buckets,
                      **{f"{kind}_files": files for kind, files in plan_files(parts).items()},
                      memory_limit=opts.memory_limit,
                      threads=max(1, default_processes() // min(runner.processes, buckets)),
                      min_pair_docs=int(opts.min_pair_docs))


def _reduce(runner: Runner, plan: BucketPlan, phase: str, fn) -> list:
    """One task per bucket of a phase (finished buckets return their marker at once); their results in order."""
    results: dict[int, object] = {}
    tasks = [Task(f"{phase} bucket {k} of {plan.buckets}", fn, (plan, k)) for k in range(plan.buckets)]
    try:
        failed = runner.run(tasks, lambda task, result: results.__setitem__(task.args[1], result))
    except write_errors() as exc:  # disk full while a bucket writes: nothing published is touched
        raise CoocError(f"could not write the merge's buckets into {plan.work} "
                        f"({getattr(exc, 'strerror', None) or exc}): is the disk full? The previous index (if any) "
                        "is untouched and the parts and finished buckets are kept; free space and rerun") from None
    if failed:
        raise CoocError(f"{len(failed)} merge bucket(s) failed ({failed[0].name}: {failed[0].error}); finished "
                        "buckets are kept: rerun the same merge to reduce only the rest")
    return [results[k] for k in range(plan.buckets)]


def merge_pairs(plan: BucketPlan, runner: Runner, staging: Path, opts: MergeOptions,
                laps: Laps | None = None) -> tuple[Pairs, CountMinSketch | None, int, int]:
    """Pair totals as name-id keys (common words left out), the sketch, distinct and total counts.

    Each bucket sums its share of the parts and writes its totals in the order of the packed id keys
    (ids are assigned in hash order); the buckets' arrays, concatenated in bucket order, are the exact
    table. The sketch answers only for pairs pruned from the exact table (`min_pair_docs` > 1), so it
    holds only those, is sized once their number is known (`sketch_shape`), and is not built when
    nothing was pruned.
    """
    laps = laps if laps is not None else Laps()
    counts = _reduce(runner, plan, "pairs", pairs_bucket)
    laps.lap("pairs")
    keys_out, docs_out = _pair_arrays(staging, sum(c["kept"] for c in counts))
    at = 0
    for k, c in enumerate(counts):
        if c["kept"]:
            keys_out[at : at + c["kept"]] = load_array(plan.path("pairs", k, "keys.npy"))
            docs_out[at : at + c["kept"]] = load_array(plan.path("pairs", k, "docs.npy"))
            at += c["kept"]
    laps.lap("concatenate")
    sketch, pruned = None, sum(c["distinct"] - c["kept"] for c in counts)
    if pruned:  # nothing pruned: the exact table is complete and answers every pair
        sketch = CountMinSketch(sketch_shape(opts, pruned))
        for k in range(plan.buckets):
            sketch.add_totals(load_array(plan.path("pairs", k, "below.keys.npy")),
                              load_array(plan.path("pairs", k, "below.docs.npy")))
        laps.lap("sketch")
    return Pairs(keys_out, docs_out), sketch, sum(c["distinct"] for c in counts), sum(c["total"] for c in counts)


def sketch_shape(opts: MergeOptions, pruned: int) -> SketchShape:
    """`--sketch-mb` if given; by default the narrowest sketch at which a never-seen pair reads > 0 with
    probability <= TARGET_FPR for this many pruned pairs, at most AUTO_SKETCH_MAX_MB."""
    if opts.sketch_mb is not None:
        return SketchShape.from_mb(opts.sketch_mb, opts.sketch_depth)
    auto = SketchShape.for_keys(pruned, opts.sketch_depth)
    cap = SketchShape.from_mb(AUTO_SKETCH_MAX_MB, opts.sketch_depth)
    return auto if auto.width <= cap.width else cap


def _corpus(dones: list[dict]) -> dict:
    skipped: dict[str, int] = {}
    for done in dones:
        for k, v in done["skipped"].items():
            skipped[k] = skipped.get(k, 0) + v
    return {
        "documents": sum(d["documents"] for d in dones),
        "tokens": sum(d["tokens"] for d in dones),
        "bytes": sum(d["bytes"] for d in dones),
        "skipped": skipped,
        "skipped_total": sum(skipped.values()),
        "duplicates_dropped": sum(d.get("duplicates_dropped", 0) for d in dones),
    }


def _sketch_meta(sketch: CountMinSketch | None, total: int) -> dict:
    if sketch is None:
        return {}
    fill = sketch.fill()
    return {"sketch": {**sketch.shape.to_dict(), "total": total, "fill": fill, **sketch_error(sketch.shape, total, fill),
                       "update": "each cell keeps the largest total of the distinct pairs hashed to it, saturating uint32"}}


def _manifest(dones: list[dict], table: NameTable, pairs: Pairs, sketch: CountMinSketch | None, distinct: int, total: int,
              collisions: int, registers: np.ndarray, opts: MergeOptions, extra: dict | None) -> dict:
    s = dones[0]["settings"]
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "cooc_version": cooc_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": _corpus(dones),
        "inputs": [{"path": d["file"], "size": d["size"], "documents": d["documents"], "bytes": d["bytes"],
                    "skipped": d["skipped"], "duplicates_dropped": d.get("duplicates_dropped", 0), "part": d["part"]}
                   for d in dones],
        "config": {
            "window": "doc" if s["window"] == WINDOW_DOC else s["window"],
            "normalization_version": s["normalization_version"],
            "names": {"rules": s["rules"], "inner": s["inner"], "rule_version": s["rule_version"],
                      "gazetteer": s["gazetteer"],
                      "hash": _HASH_SPEC,
                      "common_word": "one word, used in lowercase more often than as a name"},
            "read": {"text_field": s["text_field"], "id_field": s["id_field"], "txt_lines": s["txt_lines"],
                     "max_doc_bytes": s["max_doc_bytes"]},
            "dedup": s["dedup"],
            "min_pair_docs": opts.min_pair_docs,
            **(extra or {}),
        },
        **_sketch_meta(sketch, total),
        "counts": {
            "names": int(table.hash.size),
            "common_words": int(((table.flags & COMMON_FLAG) != 0).sum()),
            "aliases": int(table.alias_hash.size),
            "pairs": distinct,
            "pairs_kept": int(pairs.keys.size),
            "pairs_hll_estimate": round(hll_estimate(registers)),
            "hash_collisions": collisions,
        },
    }


def merge_parts(parts: list[tuple[Path, dict]], output: Path, opts: MergeOptions,
                extra_config: dict | None = None, runner: Runner | None = None, progress: bool = False) -> MergeResult:
    """Reduce the parts bucket by bucket on `runner` (default: local processes) and publish the index."""
    warm_bucket_kernels()
    release_library_pages(LLVM)  # the kernels are loaded: LLVM's text is not needed again (alloc.py)
    laps = Laps()
    bar = tqdm(total=3, desc="merging", unit=" steps", disable=not progress, dynamic_ncols=True, delay=1.0,
               bar_format="{desc}: {n}/{total}{postfix} [{elapsed}]")
    bar.set_postfix_str(f"names of {len(parts):,} parts")
    runner = runner or LocalRunner(workers=opts.workers)
    output.mkdir(parents=True, exist_ok=True)
    plan = _plan(parts, output, opts, runner)
    _reduce(runner, plan, "names", names_bucket)
    table, collisions, max_tokens = name_table(read_names(plan))
    _aliases(table, parts)
    save_name_keys(plan, table.hash, table.hash[(table.flags & COMMON_FLAG) != 0])
    laps.lap("names")
    bar.update()
    bar.set_postfix_str(f"pairs of {table.hash.size:,} names")
    staging = staging_dir(output)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        pairs, sketch, distinct, total = merge_pairs(plan, runner, staging, opts, laps)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        bar.close()
        raise
    bar.update()
    bar.set_postfix_str(f"writing {pairs.keys.size:,} pairs")
    dones = [done for _, done in parts]
    collisions += sum(d.get("hash_collisions", 0) for d in dones)
    registers = np.zeros(1 << 14, np.int8)
    for d, done in parts:
        registers = np.maximum(registers, np.load(d / f"{done['part']}.hll.npy"))
    manifest = _manifest(dones, table, pairs, sketch, distinct, total, collisions, registers, opts,
                         {**(extra_config or {}), "buckets": plan.buckets})
    manifest["config"]["names"]["max_tokens"] = max_tokens
    manifest["evidence"] = _merge_evidence(parts, staging) if opts.evidence else None
    laps.lap("evidence")
    _write(staging, output, table, pairs, manifest, sketch)
    laps.lap("write")
    bar.update()
    bar.close()
    shutil.rmtree(Path(plan.work).parent, ignore_errors=True)  # published: the buckets' work is done
    corpus = manifest["corpus"]
    return MergeResult(
        output=output, documents=corpus["documents"], tokens=corpus["tokens"], bytes=corpus["bytes"],
        skipped=corpus["skipped"], duplicates=corpus["duplicates_dropped"], names=int(table.hash.size),
        common_words=manifest["counts"]["common_words"], pairs=distinct, pairs_kept=int(pairs.keys.size),
        parts=len(parts), collisions=collisions, buckets=plan.buckets, seconds=laps.total(), stages=dict(laps),
    )


def _merge_evidence(parts: list[tuple[Path, dict]], staging: Path) -> dict:
    stores = [part_store(d, done["part"]) for d, done in parts]
    missing = [done["part"] for (_, done), store in zip(parts, stores, strict=True) if not store.is_dir()]
    if missing:
        raise CoocError(f"part {missing[0]} (and {len(missing) - 1} more) has no evidence store: rebuild those shards "
                        "without --no-evidence, or pass --no-evidence to publish the counts alone")
    t0 = time.perf_counter()
    info = merge_stores(stores, staging / EVIDENCE_DIR)
    info["merge_seconds"] = round(time.perf_counter() - t0, 3)
    return info


def _write(staging: Path, output: Path, table: NameTable, pairs: Pairs, manifest: dict,
           sketch: CountMinSketch | None) -> None:
    try:
        write_index(staging, table, pairs, manifest, sketch)
    except write_errors() as exc:  # disk full while writing: the published index is untouched
        shutil.rmtree(staging, ignore_errors=True)
        raise CoocError(f"could not write the index files into {staging} ({getattr(exc, 'strerror', None) or exc}): "
                        "is the disk full? "
                        f"The previous index in {output} (if any) is untouched and the parts are kept; free space "
                        "and rerun") from None
    publish(staging, output)


def merge(sources: list[Path], output: Path, opts: MergeOptions, runner: Runner | None = None,
          force: bool = False, progress: bool = False) -> MergeResult:
    """`cooc merge`: every finished part of the sources into one index at `output` (`force`: replace one)."""
    output = Path(output)
    give_back_freed_memory()
    check_output(output, force)
    with DirectoryLock(output):
        return merge_parts(collect([Path(s) for s in sources]), output, opts, runner=runner, progress=progress)


def format_merge(r: MergeResult) -> str:
    dup = f", {r.duplicates:,} duplicates dropped" if r.duplicates else ""
    skipped = f", skipped {sum(r.skipped.values()):,} malformed records {r.skipped}" if r.skipped else ""
    kept = f" ({r.pairs_kept:,} in the exact table)" if r.pairs_kept != r.pairs else ""
    buckets = f" in {r.buckets} buckets" if r.buckets > 1 else ""
    clash = f"; WARNING: {r.collisions} names share a 64-bit hash with another name" if r.collisions else ""
    return (
        f"index {r.output}: {r.documents:,} documents, {r.tokens:,} tokens, {r.names:,} names "
        f"({r.common_words:,} of them common words), {r.pairs:,} pairs{kept} from {r.parts} parts{buckets}{dup}{skipped}{clash}"
    )
