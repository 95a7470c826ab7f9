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

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb
import numba as nb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import spans
from .count import WINDOW_DOC
from .errors import CoocError
from .layout import ARRAYS, COMMON_FLAG, FORMAT, FORMAT_VERSION, PARTS_DIR
from .lock import DirectoryLock
from .names import KIND_GAZETTEER, KIND_NUMBER, KIND_TITLE
from .parts import load_done, run_files
from .sketch import DEFAULT_DEPTH, DEFAULT_SKETCH_MB, CountMinSketch, SketchShape, hll_estimate, sketch_error
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


@dataclass
class MergeOptions:
    min_pair_docs: int = 1  # pairs below this stay only in the sketch (built only when something is pruned)
    sketch_mb: float = DEFAULT_SKETCH_MB
    sketch_depth: int = DEFAULT_DEPTH
    force: bool = False
    memory_limit: str = "2GB"  # DuckDB spills to disk beyond this


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
    seconds: float


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


def _files(parts: list[tuple[Path, dict]], kind: str) -> str:
    paths = [str(run_files(d, done["part"], k)[kind]) for d, done in parts for k in range(done["runs"])]
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _connect(staging: Path, opts: MergeOptions) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{opts.memory_limit}'")
    con.execute(f"SET temp_directory='{staging / 'duckdb_tmp'}'")
    con.execute(f"SET threads={max(1, os.cpu_count() or 1)}")
    return con


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


def merge_names(con: duckdb.DuckDBPyConnection, parts: list[tuple[Path, dict]]) -> tuple[NameTable, int, int]:
    """Every name with its summed counts, lowercase uses and common-word flag; the collisions; the
    longest name in tokens (how far the scorer's n-gram lookup must reach)."""
    rows = con.sql(f"""
        WITH n AS (
            SELECT hash, min("check") AS chk, count(DISTINCT "check") AS checks, sum(docs)::BIGINT AS docs,
                   sum(mentions)::BIGINT AS mentions, bit_or(kinds)::BIGINT AS kinds, min(ntok)::BIGINT AS ntok,
                   first(name ORDER BY label <> '' DESC, docs DESC, name) AS name,
                   max(label) AS label
            FROM read_parquet({_files(parts, 'names')}) GROUP BY hash),
        l AS (SELECT hash, sum(uses)::BIGINT AS uses FROM read_parquet({_files(parts, 'lower')}) GROUP BY hash)
        SELECT n.*, coalesce(l.uses, 0)::BIGINT AS lower FROM n LEFT JOIN l ON n.hash = l.hash AND n.ntok = 1
        ORDER BY n.hash""").to_arrow_table()
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


class _HashIndex:
    """Name hash -> row, for mapping millions of pair hashes to ids (a binary search per key is 10x slower)."""

    def __init__(self, hashes: np.ndarray):
        self._table = np.zeros((1 << max(4, (2 * max(hashes.size, 1) - 1).bit_length()), 2), dtype=np.uint64)
        _build_index(np.ascontiguousarray(hashes, dtype=np.uint64), self._table)

    def ids(self, keys: np.ndarray) -> np.ndarray:
        """Rows of hashes that are all present (every pair's names are in the name table)."""
        return _lookup(self._table, np.ascontiguousarray(keys, dtype=np.uint64))


def _pair_arrays(staging: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The index's pair arrays, preallocated as memory-mapped .npy files: the exact table is written
    as it streams out of DuckDB, never held (or sorted) in memory."""
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    keys = np.lib.format.open_memmap(staging / ARRAYS["pair_keys"][0], mode="w+", dtype=np.uint64, shape=(n,))
    docs = np.lib.format.open_memmap(staging / ARRAYS["pair_docs"][0], mode="w+", dtype=np.int64, shape=(n,))
    return keys, docs


def merge_pairs(con: duckdb.DuckDBPyConnection, parts: list[tuple[Path, dict]], table: NameTable,
                opts: MergeOptions, staging: Path) -> tuple[Pairs, CountMinSketch | None, int, int]:
    """Pair totals as name-id keys (common words left out), the sketch, distinct and total counts.

    DuckDB sums the parts (spilling past its memory limit) and streams the totals ordered by the
    two name hashes, which is the order of the packed id keys (ids are assigned in hash order).
    The sketch answers only for pairs pruned from the exact table, so it is built only when the
    table is pruned (`min_pair_docs` > 1); a complete exact table answers every pair by itself.
    """
    sketch = CountMinSketch(SketchShape.from_mb(opts.sketch_mb, opts.sketch_depth)) if opts.min_pair_docs > 1 else None
    con.register("common_words", pa.table({"hash": pa.array(table.hash[(table.flags & COMMON_FLAG) != 0], pa.uint64())}))
    con.execute(f"""CREATE TEMP TABLE totals AS SELECT a, b, sum(docs)::BIGINT AS docs
                    FROM read_parquet({_files(parts, 'pairs')})
                    WHERE a NOT IN (SELECT hash FROM common_words) AND b NOT IN (SELECT hash FROM common_words)
                    GROUP BY a, b""")
    distinct, total, kept = con.execute(f"SELECT count(*), coalesce(sum(docs), 0)::BIGINT, "
                                        f"count(*) FILTER (WHERE docs >= {int(opts.min_pair_docs)}) FROM totals").fetchall()[0]
    keys_out, docs_out = _pair_arrays(staging, int(kept))
    lookup = _HashIndex(table.hash)
    at = 0
    for batch in con.sql("SELECT a, b, docs FROM totals ORDER BY a, b").to_arrow_reader(batch_size=1 << 20):
        ia = lookup.ids(batch.column(0).to_numpy())
        ib = lookup.ids(batch.column(1).to_numpy())
        keys = (ia.astype(np.uint64) << np.uint64(32)) | ib.astype(np.uint64)  # ia < ib: ids follow hash order
        docs = batch.column(2).to_numpy().astype(np.int64)
        if sketch is not None:
            sketch.add(keys, docs)
        big = docs >= opts.min_pair_docs
        n = int(big.sum())
        keys_out[at : at + n] = keys[big]
        docs_out[at : at + n] = docs[big]
        at += n
    con.execute("DROP TABLE totals")
    return Pairs(keys_out, docs_out), sketch, int(distinct), int(total)


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
                       "update": "conservative, one update per distinct pair with its total, saturating uint32"}}


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
                extra_config: dict | None = None) -> MergeResult:
    t0 = time.perf_counter()
    output.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(output)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    con = _connect(staging, opts)
    try:
        table, collisions, max_tokens = merge_names(con, parts)
        _aliases(table, parts)
        pairs, sketch, distinct, total = merge_pairs(con, parts, table, opts, staging)
    finally:
        con.close()
    shutil.rmtree(staging / "duckdb_tmp", ignore_errors=True)
    dones = [done for _, done in parts]
    collisions += sum(d.get("hash_collisions", 0) for d in dones)
    registers = np.zeros(1 << 14, np.int8)
    for d, done in parts:
        registers = np.maximum(registers, np.load(d / f"{done['part']}.hll.npy"))
    manifest = _manifest(dones, table, pairs, sketch, distinct, total, collisions, registers, opts, extra_config)
    manifest["config"]["names"]["max_tokens"] = max_tokens
    _write(staging, output, table, pairs, manifest, sketch)
    corpus = manifest["corpus"]
    return MergeResult(
        output=output, documents=corpus["documents"], tokens=corpus["tokens"], bytes=corpus["bytes"],
        skipped=corpus["skipped"], duplicates=corpus["duplicates_dropped"], names=int(table.hash.size),
        common_words=manifest["counts"]["common_words"], pairs=distinct, pairs_kept=int(pairs.keys.size),
        parts=len(parts), collisions=collisions, seconds=time.perf_counter() - t0,
    )


def _write(staging: Path, output: Path, table: NameTable, pairs: Pairs, manifest: dict,
           sketch: CountMinSketch | None) -> None:
    try:
        write_index(staging, table, pairs, manifest, sketch)
    except (OSError, duckdb.Error) as exc:  # disk full while writing: the published index is untouched
        shutil.rmtree(staging, ignore_errors=True)
        raise CoocError(f"could not write the index files into {staging} ({getattr(exc, 'strerror', None) or exc}): "
                        "is the disk full? "
                        f"The previous index in {output} (if any) is untouched and the parts are kept; free space "
                        "and rerun") from None
    publish(staging, output)


def merge(sources: list[Path], output: Path, opts: MergeOptions) -> MergeResult:
    """`cooc merge`: every finished part of the sources into one index at `output`."""
    output = Path(output)
    check_output(output, opts.force)
    with DirectoryLock(output):
        return merge_parts(collect([Path(s) for s in sources]), output, opts)


def format_merge(r: MergeResult) -> str:
    dup = f", {r.duplicates:,} duplicates dropped" if r.duplicates else ""
    skipped = f", skipped {sum(r.skipped.values()):,} malformed records {r.skipped}" if r.skipped else ""
    kept = f" ({r.pairs_kept:,} in the exact table)" if r.pairs_kept != r.pairs else ""
    clash = f"; WARNING: {r.collisions} names share a 64-bit hash with another name" if r.collisions else ""
    return (
        f"index {r.output}: {r.documents:,} documents, {r.tokens:,} tokens, {r.names:,} names "
        f"({r.common_words:,} of them common words), {r.pairs:,} pairs{kept} from {r.parts} parts{dup}{skipped}{clash}"
    )
