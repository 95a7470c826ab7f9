"""Per-shard parts: the unit of work, of resumption and of merging.

One input file is one shard. Its part is a few files in a parts directory, each written
to a temporary name and renamed, the done marker last:

    <part>.r<k>.names.parquet   hash, check, docs, mentions, kinds, ntok, name, label   (run k)
    <part>.r<k>.pairs.parquet   a, b (name hashes, a < b), docs
    <part>.r<k>.lower.parquet   hash, uses (lowercase uses of words)

each grouped by the top 16 bits of its first column (a counting sort) in row groups, so that a merge
bucket (a range of hashes, aligned to the top bits) reads only the row groups that overlap it.
    <part>.hll.npy              HyperLogLog registers of the shard's pairs
    <part>.done.json            the shard's stats, its runs and the settings it was counted with

A shard is one run unless its tables pass the memory budget (`--memory-mb`); runs sum at
merge time. Names are keyed by hash, so parts from any machine merge with no shared
vocabulary. A rerun skips a shard whose done marker matches the file (size, mtime) and the
settings (`PartSettings.key`); anything else is counted again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .alloc import COLD_LIBRARIES, LLVM, give_back_freed_memory, release_library_pages
from .atomic import atomic_path, write_json_atomic
from .count import Run, ShardCounter
from .errors import CoocError
from .evidence import EvidenceWriter, part_store
from .gazetteer import LoadedGazetteer, load_gazetteer
from .layout import PARTS_DIR
from .names import KIND_GAZETTEER
from .normalize import NORMALIZATION_VERSION
from .read import DocBatch, ReadOptions, ReadStats, read_file
from .sketch import hll_registers

PART_FORMAT = 2


def _counting_code() -> str:
    """A digest of the code that decides what a part holds (the rule, its kernel, the counter): parts
    counted by other code are never reused or merged, so changing the rule can never mix old counts in."""
    h = hashlib.sha256()
    for module in ("spans.py", "names.py", "count.py"):
        h.update((Path(__file__).parent / module).read_bytes())
    return h.hexdigest()[:16]


RULE_VERSION = _counting_code()
__all__ = ["PARTS_DIR", "PART_FORMAT", "PartSettings", "count_shard", "count_shard_with", "is_done", "load_done",
           "part_name", "run_files", "warm_kernels"]


@dataclass(frozen=True, kw_only=True)
class PartSettings:
    """Everything that changes a part's numbers; parts merge only when these agree."""

    window: int
    rules: bool  # the name rule; False: only the gazetteer (a curated list, `--vocab`)
    inner: bool  # a run with connectors also names its parts
    gazetteer: str | None  # fingerprint of the gazetteer's names and aliases
    text_field: str
    id_field: str
    txt_lines: bool
    dedup: str | None
    max_doc_bytes: int
    rule_version: str = RULE_VERSION
    normalization_version: int = NORMALIZATION_VERSION

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(kw_only=True)
class CountOptions:
    """How a shard is counted (what a worker needs besides the file)."""

    settings: PartSettings
    read: ReadOptions = field(default_factory=ReadOptions)
    gazetteer_path: str | None = None
    memory_mb: float = 1024
    evidence: bool = True  # also write the shard's evidence store (evidence.py); not a count setting


def part_name(path: Path) -> str:
    """Readable and unique: the file name plus a hash of its absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', path.name)}-{digest}"


def _atomic(path: Path, write) -> None:
    """Write to a temp file, then rename: a part file is either complete or absent.

    A failed write (disk full, quota, file-size limit) removes its temp file and says which
    file it was; the shard's done marker is written last, so the shard is simply redone.
    """
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as exc:
        raise CoocError(f"could not write {path} ({exc.strerror or exc}): is the disk full? Finished shards are "
                        "kept; free space and rerun the same command to count only the rest") from None


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save(path) would append ".npy" to the temp name
        np.save(fh, array)


def done_marker(parts_dir: Path, path: Path) -> Path:
    return parts_dir / f"{part_name(path)}.done.json"


def is_done(parts_dir: Path, path: Path, settings: PartSettings, evidence: bool = False) -> bool:
    """The shard's part is finished with these settings (and, when `evidence`, so is its evidence store)."""
    marker = done_marker(parts_dir, path)
    if not marker.is_file() or (evidence and not part_store(parts_dir, part_name(path)).is_dir()):
        return False
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    st = path.stat()
    return (
        done.get("settings_key") == settings.key()
        and done.get("size") == st.st_size
        and done.get("mtime_ns") == st.st_mtime_ns
    )


def run_files(parts_dir: Path, part: str, k: int) -> dict[str, Path]:
    return {kind: parts_dir / f"{part}.r{k}.{kind}.parquet" for kind in ("names", "pairs", "lower")}


def _labels(run: Run, gazetteer: LoadedGazetteer | None) -> tuple[pa.Array, pa.Array]:
    """Display names and labels: a gazetteer name shows its canonical form and label."""
    found = np.flatnonzero(run.kinds & (1 << KIND_GAZETTEER)) if gazetteer is not None else []
    if not len(found):
        return run.names, pa.repeat("", len(run.names))
    names, labels = run.names.to_pylist(), [""] * len(run.names)
    for i in found.tolist():
        names[i], labels[i] = gazetteer.labels.get(int(run.hash[i]), (names[i], ""))
    return pa.array(names, pa.string()), pa.array(labels, pa.string())


_BUCKET_KEY = {"names": "hash", "pairs": "a", "lower": "hash"}
ORDER_BITS = 16  # rows are grouped by this many top bits of their bucket key: enough for 65,536 merge buckets


@nb.njit(cache=True)
def bucket_order(keys, bits):
    """A permutation that groups `keys` by their top `bits` bits, in increasing order of those bits (a stable
    counting sort). It is all the merge's row-group pruning needs, since a bucket is a range of top bits, and
    ~3.5x cheaper than a full argsort of uint64 (48 -> 14 ms for 546 k pairs)."""
    shift = np.uint64(64 - bits)
    start = np.zeros((1 << bits) + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        start[np.int64(keys[i] >> shift) + 1] += 1
    for g in range(1 << bits):
        start[g + 1] += start[g]
    order = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        g = np.int64(keys[i] >> shift)
        order[start[g]] = i
        start[g] += 1
    return order


#: Part files are read once, by the merge: lz4 without dictionaries writes them in about half zstd's time
#: (one shard's 630 k rows: 118 -> 56 ms) for ~40% more bytes.
PART_PARQUET = {"compression": "lz4", "use_dictionary": False, "row_group_size": 1 << 17}


def write_run(parts_dir: Path, part: str, k: int, run: Run, gazetteer: LoadedGazetteer | None) -> None:
    files = run_files(parts_dir, part, k)
    names, labels = _labels(run, gazetteer)
    tables = {
        "names": pa.table({"hash": pa.array(run.hash, pa.uint64()), "check": pa.array(run.check, pa.uint64()),
                           "docs": run.docs, "mentions": run.mentions, "kinds": run.kinds, "ntok": run.ntok,
                           "name": names, "label": labels}),
        "pairs": pa.table({"a": pa.array(run.pair_a, pa.uint64()), "b": pa.array(run.pair_b, pa.uint64()),
                           "docs": run.pair_docs}),
        "lower": pa.table({"hash": pa.array(run.lower_hash, pa.uint64()), "uses": run.lower_uses}),
    }
    for kind, table in tables.items():  # grouped by bucket key: a bucket of the merge reads only its row groups
        table = table.take(bucket_order(table.column(_BUCKET_KEY[kind]).to_numpy(), ORDER_BITS))
        _atomic(files[kind], lambda p, t=table: pq.write_table(t, p, **PART_PARQUET))


def _pair_hashes(run: Run) -> np.ndarray:
    return run.pair_a ^ (run.pair_b * np.uint64(0x9E3779B97F4A7C15))


Timer = Callable[[str, float], None]


def count_shard(path: Path, parts_dir: Path, opts: CountOptions, gazetteer: LoadedGazetteer | None,
                skip_docs: set[int] | None = None, timer: Timer | None = None) -> dict:
    """Count one file and write its part; returns the done marker's content.

    skip_docs: ordinals (within this file) of documents dropped as duplicates. timer: called
    with ("read" | "count" | "store", seconds), for the build benchmark's stage table.
    """
    s = opts.settings
    counter = ShardCounter(s.window, gazetteer.matcher if gazetteer else None, s.rules, s.inner, opts.memory_mb)
    name = part_name(path)
    stats = ReadStats()
    ordinal = dropped = runs = tokens = collisions = pairs = 0
    registers = np.zeros(1 << 14, np.int8)
    tick = time.perf_counter()

    def flush(run: Run) -> None:
        nonlocal runs, tokens, collisions, pairs
        write_run(parts_dir, name, runs, run, gazetteer)
        hll_registers(_pair_hashes(run), registers)
        runs, tokens, collisions, pairs = runs + 1, tokens + run.tokens, collisions + run.collisions, pairs + run.pair_a.size

    writer = EvidenceWriter(parts_dir, name, path) if opts.evidence else None
    try:
        for batch in read_file(path, opts.read, stats):
            ids, texts, records = _kept(batch, ordinal, skip_docs)
            dropped += len(batch.texts) - len(texts)
            ordinal += len(batch.texts)
            tick = _lap(timer, "read", tick)
            full = counter.add(texts) if texts else []
            tick = _lap(timer, "count", tick)
            if writer is not None:
                writer.add(ids, texts, records)  # the same texts, read once
                tick = _lap(timer, "evidence", tick)
            for run in full:
                flush(run)
            tick = _lap(timer, "store", tick)
        flush(counter.run())
        tick = _lap(timer, "store", tick)
        if writer is not None:
            writer.close()
            tick = _lap(timer, "evidence", tick)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    _atomic(parts_dir / f"{name}.hll.npy", lambda p: _save_npy(p, registers))
    st = path.stat()
    done = {
        "part_format": PART_FORMAT, "part": name, "file": str(path.resolve()), "size": st.st_size,
        "mtime_ns": st.st_mtime_ns, "settings": asdict(s), "settings_key": s.key(), "runs": runs,
        "documents": stats.documents - dropped, "duplicates_dropped": dropped, "tokens": tokens,
        "bytes": stats.bytes, "skipped": dict(stats.skipped), "pairs": pairs, "hash_collisions": collisions,
        "evidence": writer is not None,
    }
    write_json_atomic(parts_dir / f"{name}.done.json", done)
    _lap(timer, "store", tick)
    return done


def _kept(batch: DocBatch, ordinal: int, skip_docs: set[int] | None) -> tuple[list[str], list[str], list[int]]:
    """Ids, texts and records of a batch without the documents dropped as duplicates (by ordinal in the file)."""
    if not skip_docs:
        return batch.ids, batch.texts, batch.records
    keep = [k for k in range(len(batch.texts)) if ordinal + k not in skip_docs]
    return [batch.ids[k] for k in keep], [batch.texts[k] for k in keep], [batch.records[k] for k in keep]


def _lap(timer: Timer | None, stage: str, tick: float) -> float:
    now = time.perf_counter()
    if timer is not None:
        timer(stage, now - tick)
    return now


def warm_kernels(forks: bool = True) -> None:
    """Load the counting kernels (numba's on-disk cache) in this process, before it forks workers.

    Forked workers then share the loaded machine code instead of each loading its own copy: measured on
    the 3 corpus files, 0.6 s and ~50 MiB of private memory per worker. Then LLVM's text is paged out, and,
    when workers will fork (`forks`), pyarrow's, numpy's and scipy's too: a build that counts in this process
    reads those straight back (on the bundled sample ~100 against ~170 major faults; its wall time moved
    within the VM's noise, 3.0-4.4 against 3.6-4.7 s over 7 runs each).
    """
    counter = ShardCounter(1000)
    counter.add(["Warm up the \"Compiled Kernels\" of New York in 1999."])
    keys = _pair_hashes(counter.run())
    hll_registers(keys)
    keys.flags.writeable = False  # as Arrow's zero-copy column is: a read-only array is another signature
    bucket_order(keys, ORDER_BITS)
    release_library_pages(COLD_LIBRARIES if forks else LLVM)  # the text read ahead at import (alloc.py)


_LOADED: dict = {}  # per process: the gazetteer file last loaded (path, inode, mtime) and its tables


def count_shard_with(path: Path, parts_dir: Path, opts: CountOptions, skip_docs: set[int] | None = None) -> dict:
    """count_shard for a worker process (local pool or Ray task): the gazetteer is loaded once per process."""
    give_back_freed_memory()  # a Ray worker was not forked from the build
    gazetteer = None
    if opts.gazetteer_path:
        st = os.stat(opts.gazetteer_path)
        ident = (opts.gazetteer_path, st.st_ino, st.st_mtime_ns)
        if _LOADED.get("ident") != ident:
            _LOADED.update(ident=ident, gazetteer=load_gazetteer(Path(opts.gazetteer_path)))
        gazetteer = _LOADED["gazetteer"]
    return count_shard(Path(path), Path(parts_dir), opts, gazetteer, skip_docs)


def load_done(parts_dir: Path) -> list[dict]:
    """Done markers of a parts directory, sorted by part name."""
    out = []
    for marker in sorted(parts_dir.glob("*.done.json")):
        try:
            done = json.loads(marker.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CoocError(f"{marker}: corrupt done marker; delete it and rerun the build for that shard") from None
        if done.get("part_format") != PART_FORMAT:
            raise CoocError(f"{marker}: part format {done.get('part_format')} was written by another cooc; delete "
                            f"{parts_dir} (or pass --force) and rebuild")
        out.append(done)
    return out
