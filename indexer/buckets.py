"""The reduce, cut into buckets of the name-hash space that merge independently.

Bucket k of B (a power of two) holds the names whose hash has k as its top log2(B) bits, and
the pairs whose first (smaller) hash does. Buckets follow hash order, and name ids are
assigned in hash order, so concatenating the buckets' outputs in bucket order gives exactly
the arrays of a one-bucket merge: the index is the same for any B, any number of workers
and either runner. Two phases, each a task per bucket: names (sums, collisions, lowercase
uses), then, once every name has its id, pairs (sums, common words left out, ids, and the
bucket's share of the sketch). Parts are written sorted by key, so a bucket's range query
reads only the row groups that overlap its range.

Every bucket's output lands in a work directory keyed by the parts and options it was
reduced from, with a marker written last: a killed merge reruns only unfinished buckets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_path, write_json_atomic
from .duck import connect
from .layout import MERGE_WORK_DIR
from .parts import run_files
from .sketch import CountMinSketch, SketchShape

__all__ = ["BucketPlan", "HashIndex", "default_buckets", "pairs_bucket", "names_bucket", "work_dir"]

#: Pair rows (summed over parts) one bucket should reduce within DuckDB's default 2 GB budget.
ROWS_PER_BUCKET = 16_000_000
MAX_BUCKETS = 4096


def default_buckets(pair_rows: int) -> int:
    """The smallest power of two that keeps each bucket near ROWS_PER_BUCKET pair rows."""
    b = 1
    while b < MAX_BUCKETS and pair_rows > b * ROWS_PER_BUCKET:
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
    sketch: SketchShape | None

    def bounds(self, k: int) -> tuple[int, int]:
        """Inclusive hash range of bucket k."""
        shift = 64 - (self.buckets.bit_length() - 1)
        if shift == 64:
            return 0, (1 << 64) - 1
        return k << shift, ((k + 1) << shift) - 1

    def path(self, phase: str, k: int, suffix: str) -> Path:
        return Path(self.work) / f"{phase}-{k:05d}.{suffix}"

    def is_done(self, phase: str, k: int) -> bool:
        return self.path(phase, k, "done.json").is_file()


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


@nb.njit(cache=True)
def _lookup(table, keys):
    mask = np.uint64(table.shape[0] - 1)
    out = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        s = np.int64((keys[i] * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20) & mask)
        while table[s, 0] != keys[i]:
            s = (s + 1) & np.int64(mask)
        out[i] = np.int64(table[s, 1])
    return out


class HashIndex:
    """Name hash -> row, for mapping millions of pair hashes to ids (a binary search per key is 10x slower)."""

    def __init__(self, hashes: np.ndarray):
        self._table = np.zeros((1 << max(4, (2 * max(hashes.size, 1) - 1).bit_length()), 2), dtype=np.uint64)
        _build_index(np.ascontiguousarray(hashes, dtype=np.uint64), self._table)

    def ids(self, keys: np.ndarray) -> np.ndarray:
        """Rows of hashes that are all present (every pair's names are in the name table)."""
        return _lookup(self._table, np.ascontiguousarray(keys, dtype=np.uint64))


def pairs_bucket(plan: BucketPlan, k: int) -> dict:
    """Phase 2 of bucket k: its pair totals as id keys (common words left out), those >= min_pair_docs
    kept for the exact table, all of them in the bucket's sketch; returns the bucket's counts."""
    marker = plan.path("pairs", k, "done.json")
    if marker.is_file():
        return json.loads(marker.read_text())
    lo, hi = plan.bounds(k)
    con = _connect(plan)
    try:
        con.register("common_words", pa.table({"hash": np.load(Path(plan.work) / "common.hash.npy")}))
        con.execute(f"""CREATE TEMP TABLE totals AS SELECT a, b, sum(docs)::BIGINT AS docs
                        FROM read_parquet({_sql_list(plan.pairs_files)})
                        WHERE {_in_range('a', lo, hi)}
                          AND a NOT IN (SELECT hash FROM common_words) AND b NOT IN (SELECT hash FROM common_words)
                        GROUP BY a, b""")
        distinct, total, kept = con.execute(
            f"SELECT count(*), coalesce(sum(docs), 0)::BIGINT, count(*) FILTER (WHERE docs >= {plan.min_pair_docs}) "
            "FROM totals").fetchall()[0]
        counts = {"distinct": int(distinct), "total": int(total), "kept": int(kept)}
        _stream_pairs(con, plan, k, counts["kept"])
    finally:
        con.close()
    write_json_atomic(marker, counts)
    return counts


def _stream_pairs(con: duckdb.DuckDBPyConnection, plan: BucketPlan, k: int, kept: int) -> None:
    """Totals in key order into the bucket's memory-mapped arrays (never held or sorted in memory)."""
    sketch = CountMinSketch(plan.sketch) if plan.sketch is not None else None
    lookup = HashIndex(np.load(Path(plan.work) / "names.hash.npy", mmap_mode="r"))
    with atomic_path(plan.path("pairs", k, "keys.npy")) as tk, atomic_path(plan.path("pairs", k, "docs.npy")) as td:
        keys_out, docs_out = _out(tk, np.uint64, kept), _out(td, np.int64, kept)
        at = 0
        for batch in con.sql("SELECT a, b, docs FROM totals ORDER BY a, b").to_arrow_reader(batch_size=1 << 20):
            ia = lookup.ids(batch.column(0).to_numpy())
            ib = lookup.ids(batch.column(1).to_numpy())
            keys = (ia.astype(np.uint64) << np.uint64(32)) | ib.astype(np.uint64)  # ia < ib: ids follow hash order
            docs = batch.column(2).to_numpy().astype(np.int64)
            if sketch is not None:
                sketch.add_totals(keys, docs)
            big = docs >= plan.min_pair_docs
            n = int(big.sum())
            keys_out[at : at + n] = keys[big]
            docs_out[at : at + n] = docs[big]
            at += n
        _close(tk, keys_out)
        _close(td, docs_out)
    if sketch is not None:
        _save(plan.path("pairs", k, "sketch.npy"), sketch.table)


def _out(path: Path, dtype, n: int) -> np.ndarray:
    """A memory-mapped .npy of n values (numpy cannot map an empty one: that stays in memory)."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n,)) if n else np.zeros(0, dtype)


def _close(path: Path, array: np.ndarray) -> None:
    if isinstance(array, np.memmap):
        array.flush()
    else:
        with open(path, "wb") as fh:
            np.save(fh, array)


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def load_array(path: Path) -> np.ndarray:
    """A bucket's array, memory-mapped unless empty."""
    return np.load(path) if path.stat().st_size < 1024 else np.load(path, mmap_mode="r")
