"""The reduce, cut into buckets of the name-hash space that merge independently.

Bucket k of B (a power of two) holds the names whose hash has k as its top log2(B) bits, and
the pairs whose first (smaller) hash falls in its k-th quantile range (`BucketPlan.pair_bounds`: the
smaller of two hashes is not uniform). Buckets follow hash order, and name ids are
assigned in hash order, so concatenating the buckets' outputs in bucket order gives exactly
the arrays of a one-bucket merge: the index is the same for any B, any number of workers
and either runner. Two phases, each a task per bucket: names (sums, collisions, lowercase
uses), then, once every name has its id, pairs (sums, common words left out, ids; pairs below
`min_pair_docs` saved apart for the sketch). Parts are written grouped by the top 16 bits of the
key, so a bucket's range query reads only the row groups that overlap its range.

Every bucket's output lands in a work directory keyed by the parts and options it was
reduced from, with a marker written last: a killed merge reruns only unfinished buckets.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_path, write_json_atomic
from .duck import connect
from .layout import MERGE_WORK_DIR
from .parts import ORDER_BITS, run_files

if TYPE_CHECKING:
    import duckdb

__all__ = ["BucketPlan", "HashIndex", "default_buckets", "pairs_bucket", "names_bucket", "warm_kernels", "work_dir"]

#: Pair rows (summed over parts) one bucket should reduce within DuckDB's default 2 GB budget.
ROWS_PER_BUCKET = 16_000_000
MAX_BUCKETS = 4096
#: Pair rows past which the merge gives each process a bucket (the 3 corpus files, 1.37 M rows: no gain, 1.9-2.6 s
#: with 1 or 2 buckets; the 10x copy, 14.3 M rows: 6.0 -> 4.8 s)
PARALLEL_ROWS = 2_000_000


def default_buckets(pair_rows: int, processes: int = 1) -> int:
    """The smallest power of two that keeps each bucket near ROWS_PER_BUCKET pair rows, and, past
    PARALLEL_ROWS, gives every process of the runner a bucket (the index is the same for any number)."""
    b = 1
    while b < MAX_BUCKETS and (pair_rows > b * ROWS_PER_BUCKET or (pair_rows > PARALLEL_ROWS and b < processes)):
        b *= 2
    return b


@dataclass(frozen=True)
class BucketPlan:
    """What every bucket task needs: picklable, so it ships as is to a process or a Ray worker."""

    work: str  # the work directory
    buckets: int
    names_files: tuple[str, ...]
    lower_files: tuple[str, ...]
    pairs_files: tuple[str, ...]
    memory_limit: str
    threads: int
    min_pair_docs: int

    def bounds(self, k: int) -> tuple[int, int]:
        """Inclusive hash range of bucket k."""
        shift = 64 - (self.buckets.bit_length() - 1)
        if shift == 64:
            return 0, (1 << 64) - 1
        return k << shift, ((k + 1) << shift) - 1

    def pair_bounds(self, k: int) -> tuple[int, int]:
        """Inclusive range of the first hash `a` of bucket k's pairs. A pair's `a` is the smaller of two uniform
        hashes, so its density falls linearly (2(1 - x)): equal ranges gave 2 buckets 75% and 25% of the rows
        (the 10x corpus), and the larger one was the merge's critical path. The bounds are the distribution's
        quantiles, 1 - sqrt(1 - k/B), cut at multiples of 2^48: parts group their rows by the top 16 bits
        (parts.ORDER_BITS), so a bucket still reads only the row groups that hold its rows."""
        if self.buckets == 1:
            return 0, (1 << 64) - 1
        return _pair_cut(k, self.buckets) << PAIR_CUT_SHIFT, (_pair_cut(k + 1, self.buckets) << PAIR_CUT_SHIFT) - 1

    def path(self, phase: str, k: int, suffix: str) -> Path:
        return Path(self.work) / f"{phase}-{k:05d}.{suffix}"

    def is_done(self, phase: str, k: int) -> bool:
        return self.path(phase, k, "done.json").is_file()


PAIR_CUT_SHIFT = 64 - ORDER_BITS  # pair buckets are cut where the parts group their rows (BucketPlan.pair_bounds)
#: how pair buckets are cut; in the work directory's fingerprint, so an interrupted merge's buckets cut
#: another way are never reused
PAIR_SPLIT = "min-quantiles/2^48"


def _pair_cut(k: int, buckets: int) -> int:
    """Bucket k's first `a`, in units of 2^48: the k/B quantile of the smaller of two uniform hashes."""
    if k >= buckets:
        return 1 << (64 - PAIR_CUT_SHIFT)
    return int((1 - math.sqrt(1 - k / buckets)) * (1 << (64 - PAIR_CUT_SHIFT)))


def work_dir(output: Path, fingerprint: dict) -> Path:
    """The work directory for this exact reduce; work left by other reduces is removed."""
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]
    root = output / MERGE_WORK_DIR
    for old in root.glob("*") if root.is_dir() else []:
        if old.name != key:
            shutil.rmtree(old, ignore_errors=True)
    (root / key).mkdir(parents=True, exist_ok=True)
    return root / key


def plan_files(parts: list[tuple[Path, dict]]) -> dict[str, tuple[str, ...]]:
    files: dict[str, list[str]] = {"names": [], "lower": [], "pairs": []}
    for d, done in parts:
        for k in range(done["runs"]):
            for kind, path in run_files(d, done["part"], k).items():
                files[kind].append(str(path))
    return {kind: tuple(v) for kind, v in files.items()}


def _sql_list(paths: tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _connect(plan: BucketPlan) -> duckdb.DuckDBPyConnection:
    con = connect()
    tmp = Path(plan.work) / f"duckdb_tmp-{os.getpid()}"
    con.execute(f"SET memory_limit='{plan.memory_limit}'")
    con.execute(f"SET temp_directory='{tmp}'")
    con.execute(f"SET threads={plan.threads}")
    return con


def _in_range(column: str, lo: int, hi: int) -> str:
    return f"{column} BETWEEN {lo}::UBIGINT AND {hi}::UBIGINT"


def names_bucket(plan: BucketPlan, k: int) -> int:
    """Phase 1 of bucket k: every name in its range with summed counts; returns how many."""
    if plan.is_done("names", k):
        return json.loads(plan.path("names", k, "done.json").read_text())["rows"]
    lo, hi = plan.bounds(k)
    con = _connect(plan)
    try:
        rows = con.sql(f"""
            WITH n AS (
                SELECT hash, min("check") AS chk, count(DISTINCT "check") AS checks, sum(docs)::BIGINT AS docs,
                       sum(mentions)::BIGINT AS mentions, bit_or(kinds)::BIGINT AS kinds, min(ntok)::BIGINT AS ntok,
                       first(name ORDER BY label <> '' DESC, docs DESC, name) AS name,
                       max(label) AS label
                FROM read_parquet({_sql_list(plan.names_files)}) WHERE {_in_range('hash', lo, hi)} GROUP BY hash),
            l AS (SELECT hash, sum(uses)::BIGINT AS uses FROM read_parquet({_sql_list(plan.lower_files)})
                  WHERE {_in_range('hash', lo, hi)} GROUP BY hash)
            SELECT n.*, coalesce(l.uses, 0)::BIGINT AS lower FROM n LEFT JOIN l ON n.hash = l.hash AND n.ntok = 1
            ORDER BY n.hash""").to_arrow_table()
    finally:
        con.close()
    with atomic_path(plan.path("names", k, "parquet")) as tmp:
        pq.write_table(rows, tmp)
    write_json_atomic(plan.path("names", k, "done.json"), {"rows": rows.num_rows})
    return rows.num_rows


def read_names(plan: BucketPlan) -> pa.Table:
    """Every bucket's names in bucket order: the names of a one-bucket merge, in hash order."""
    return pa.concat_tables([pq.read_table(plan.path("names", k, "parquet")) for k in range(plan.buckets)])


def save_name_keys(plan: BucketPlan, hashes: np.ndarray, common: np.ndarray) -> None:
    """What the pair phase needs of the names: every hash (row = id) and the common words."""
    for name, array in (("names.hash.npy", hashes), ("common.hash.npy", common)):
        _save(Path(plan.work) / name, np.ascontiguousarray(array, dtype=np.uint64))


@nb.njit(cache=True)
def _build_index(hashes, table):
    mask = np.uint64(table.shape[0] - 1)
    for i in range(hashes.shape[0]):
        s = np.int64((hashes[i] * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask)
        while table[s, 0] != np.uint64(0):
            s = (s + 1) & np.int64(mask)
        table[s, 0] = hashes[i]
        table[s, 1] = np.uint64(i)


class HashIndex:
    """Name hash -> row, for mapping millions of pair hashes to ids (a binary search per key is 10x slower)."""

    def __init__(self, hashes: np.ndarray):
        self.table = np.zeros((1 << max(4, (2 * max(hashes.size, 1) - 1).bit_length()), 2), dtype=np.uint64)
        _build_index(np.ascontiguousarray(hashes, dtype=np.uint64), self.table)


def warm_kernels() -> None:
    """Load the pair bucket's kernels (numba's on-disk cache) now: the merge calls this before it pages out
    LLVM's text (alloc.py), which loading them later would read back (53 MiB of it, measured)."""
    hashes, docs = np.array([1, 2], dtype=np.uint64), np.ones(1, dtype=np.int64)
    for a in (hashes, docs):  # read-only, as the real inputs are (memory-mapped, or Arrow's): another signature
        a.flags.writeable = False
    table, _ = add_rows(np.zeros((16, 2), dtype=np.uint64), 0, hashes[:1], hashes[1:], docs, 0, 2**64 - 1,
                        HashIndex(hashes), np.zeros(2, dtype=np.bool_))
    _sorted_totals(_grown(table, 32))


def pairs_bucket(plan: BucketPlan, k: int) -> dict:
    """Phase 2 of bucket k: its pair totals as id keys (common words left out); those >= min_pair_docs
    are kept for the exact table, the rest saved apart for the sketch; returns the bucket's counts.

    The part rows of the bucket are summed in a numba hash table and the distinct keys sorted with
    numpy's vectorized sort: 2.5x faster than the DuckDB GROUP BY + ORDER BY it replaced (28 s -> 11 s
    for 22.6 M pairs, same arrays), and the bucket's memory is bounded by its rows (ROWS_PER_BUCKET
    sets the number of buckets).
    """
    marker = plan.path("pairs", k, "done.json")
    if marker.is_file():
        return json.loads(marker.read_text())
    keys, docs = _bucket_totals(plan, k)
    kept = docs >= plan.min_pair_docs
    counts = {"distinct": int(keys.size), "total": int(docs.sum()), "kept": int(kept.sum())}
    outputs = {"keys.npy": keys[kept], "docs.npy": docs[kept]}
    if plan.min_pair_docs > 1:
        outputs.update({"below.keys.npy": keys[~kept], "below.docs.npy": docs[~kept]})
    for name, array in outputs.items():
        _save(plan.path("pairs", k, name), array)
    write_json_atomic(marker, counts)
    return counts


def _bucket_totals(plan: BucketPlan, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The bucket's distinct id keys, sorted, and their summed document counts.

    Row group by row group into a table that doubles as it fills: the bucket's rows are never all held
    at once, and the table is sized by its distinct keys, not its rows (on the 3 corpus files the merge's
    process peaked here at 573 MiB, now 460)."""
    lo, hi = plan.pair_bounds(k)
    hashes = np.load(Path(plan.work) / "names.hash.npy", mmap_mode="r")
    lookup = HashIndex(hashes)
    common = np.zeros(hashes.size, dtype=np.bool_)
    common[np.searchsorted(hashes, np.load(Path(plan.work) / "common.hash.npy"))] = True
    table, used = np.zeros((1 << 16, 2), dtype=np.uint64), 0
    for path in plan.pairs_files:
        for a, b, docs in _part_rows(path, lo, hi):
            table, used = add_rows(table, used, a, b, docs, lo, hi, lookup, common)
    return _sorted_totals(table)


def add_rows(table: np.ndarray, used: int, a: np.ndarray, b: np.ndarray, docs: np.ndarray, lo: int, hi: int,
             lookup: HashIndex, common: np.ndarray) -> tuple[np.ndarray, int]:
    """Sum the pair rows (name hashes a < b) whose first hash is in [lo, hi] and neither name is a common
    word into the table, as id keys (`used` keys so far); doubles the table first if the rows could fill
    more than 3/4 of it. Returns the table and its keys.

    One kernel pass per row group: the filter, both id lookups and the sum. (As numpy steps it made ten
    temporary arrays per row group, each a fresh mapping under the build's allocator settings: merging 10
    shards of the 10x corpus took 248 k page faults and 1.5-2.1 s of system time, now 137 k and 0.5-1.4 s.)
    At most half full, the table and its doubling were the merge's peak: 32 + 64 MiB for 1.25 M pairs,
    against 16 + 32 MiB now."""
    cap = table.shape[0]
    while 4 * (used + a.size) > 3 * cap:
        cap *= 2
    if cap > table.shape[0]:
        table = _grown(table, cap)
    new = _sum_rows(table, a, b, docs, np.uint64(lo), np.uint64(hi), lookup.table, common)
    return table, used + int(new)


def _part_rows(path: str, lo: int, hi: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A part's pair rows (a, b, docs), one row group at a time. Only the row groups whose statistics
    overlap [lo, hi] are read (parts are sorted by that hash, so a bucket reads about 1/B of every part)."""
    with pq.ParquetFile(path) as f:
        col = f.schema_arrow.get_field_index("a")
        for g in range(f.metadata.num_row_groups):
            if not _overlaps(f.metadata.row_group(g).column(col), lo, hi):
                continue
            t = f.read_row_group(g, columns=["a", "b", "docs"])
            yield tuple(np.ascontiguousarray(t.column(c).to_numpy()) for c in ("a", "b", "docs"))


def _overlaps(column: pq.ColumnChunkMetaData, lo: int, hi: int) -> bool:
    st = column.statistics
    return st is None or not st.has_min_max or (st.min <= hi and st.max >= lo)


@nb.njit(inline="always", cache=True)
def _id_of(index, key):
    """Row of a name hash that is present (HashIndex's table)."""
    mask = np.uint64(index.shape[0] - 1)
    s = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask)
    while index[s, 0] != key:
        s = (s + 1) & np.int64(mask)
    return np.int64(index[s, 1])


@nb.njit(cache=True)
def _sum_rows(table, a, b, docs, lo, hi, index, common):
    """add_rows' pass: a kept row's documents go to its id key's slot (open addressing; a used slot stores
    key + 1); returns how many keys were new. ids follow hashes, so a < b gives id(a) < id(b)."""
    mask = np.uint64(table.shape[0] - 1)
    new = 0
    for i in range(a.shape[0]):
        if a[i] < lo or a[i] > hi:
            continue
        ia, ib = _id_of(index, a[i]), _id_of(index, b[i])
        if common[ia] or common[ib]:
            continue
        key = (np.uint64(ia) << np.uint64(32)) | np.uint64(ib)
        s = np.int64(((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)) & mask)
        while table[s, 0] != np.uint64(0) and table[s, 0] != key + np.uint64(1):
            s = (s + 1) & np.int64(mask)
        new += table[s, 0] == np.uint64(0)
        table[s, 0] = key + np.uint64(1)
        table[s, 1] += np.uint64(docs[i])
    return new


@nb.njit(cache=True)
def _grown(table, cap):
    """The table's slots in a table of cap slots. (Not count._rehash2: its slot function differs, and a kernel
    here inlining count.py's would go stale in numba's cache, which tracks only this file.)"""
    out = np.zeros((cap, 2), dtype=np.uint64)
    mask = np.uint64(cap - 1)
    for i in range(table.shape[0]):
        stored = table[i, 0]
        if stored != np.uint64(0):
            s = np.int64((((stored - np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)) & mask)
            while out[s, 0] != np.uint64(0):
                s = (s + 1) & np.int64(mask)
            out[s, 0] = stored
            out[s, 1] = table[i, 1]
    return out


def _sorted_totals(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The table's keys in order (numpy's sort is vectorized; an argsort of uint64 is ~5x slower), each
    with its total found again by a probe."""
    keys = table[table[:, 0] != 0, 0]
    keys -= np.uint64(1)
    keys.sort()  # in place: one copy of the keys, not three
    return keys, _totals_of(table, keys)


@nb.njit(cache=True)
def _totals_of(table, keys):
    mask = np.uint64(table.shape[0] - 1)
    out = np.empty(keys.shape[0], dtype=np.int64)
    for j in range(keys.shape[0]):
        stored = keys[j] + np.uint64(1)
        s = np.int64(((keys[j] * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)) & mask)
        while table[s, 0] != stored:
            s = (s + 1) & np.int64(mask)
        out[j] = np.int64(table[s, 1])
    return out


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def load_array(path: Path) -> np.ndarray:
    """A bucket's array, memory-mapped unless empty."""
    return np.load(path) if path.stat().st_size < 1024 else np.load(path, mmap_mode="r")
