"""Sum per-shard parts into an index: DuckDB GROUP BY over the parts' Parquet files.

Parts counted with a different vocabulary, window, normalization, reader settings
or dedup mode are refused. The result depends only on the set of parts, so
merging the parts of A and of B equals building A and B together.
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
import numpy as np

from .count import WINDOW_DOC
from .errors import CoocError
from .lock import DirectoryLock
from .parts import PARTS_DIR, VOCAB_NAME, load_done
from .sketch import DEFAULT_DEPTH, DEFAULT_SKETCH_MB, CountMinSketch, SketchShape, hll_estimate, sketch_error
from .store import FORMAT, FORMAT_VERSION, Counts, check_output, publish, staging_dir, write_index
from .vocab import Vocabulary


def cooc_version() -> str:
    try:
        return version("cooc")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class MergeOptions:
    min_pair_docs: int = 1  # pairs below this stay only in the sketch
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
    entities: int
    entities_seen: int
    pairs: int  # distinct pairs counted
    pairs_kept: int  # in the exact table (>= min_pair_docs)
    parts: int
    seconds: float


def parts_dir_of(source: Path) -> Path:
    """A parts directory, or an index / build directory that has one."""
    if (source / PARTS_DIR).is_dir():
        return source / PARTS_DIR
    if source.is_dir() and any(source.glob("*.done.json")):
        return source
    raise CoocError(f"{source}: no parts here (expected a parts directory or an index built with parts)")


def collect(sources: list[Path]) -> tuple[Vocabulary, list[tuple[Path, dict]]]:
    """All finished parts of the sources, checked to be mergeable."""
    vocab: Vocabulary | None = None
    parts: dict[str, tuple[Path, dict]] = {}
    settings = None
    for source in sources:
        pdir = parts_dir_of(Path(source))
        v = Vocabulary.load(pdir / VOCAB_NAME)
        if vocab is None:
            vocab = v
        elif v.fingerprint() != vocab.fingerprint():
            raise CoocError(f"{pdir}: parts were counted with a different vocabulary; count every shard with one --vocab")
        for done in load_done(pdir):
            if settings is None:
                settings = done["settings"]
            elif done["settings"] != settings:
                diff = sorted(k for k in settings if settings[k] != done["settings"].get(k))
                raise CoocError(f"{pdir}: part {done['part']} differs in {', '.join(diff)}; parts must share them to merge")
            if done["part"] in parts and parts[done["part"]][0] != pdir:
                raise CoocError(f"part {done['part']} is in both {parts[done['part']][0]} and {pdir}; merge it once")
            parts[done["part"]] = (pdir, done)
    if vocab is None or not parts:
        raise CoocError("no finished parts to merge")
    return vocab, [parts[k] for k in sorted(parts)]


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def merge_parts(vocab: Vocabulary, parts: list[tuple[Path, dict]], output: Path, opts: MergeOptions,
                extra_config: dict | None = None) -> MergeResult:
    t0 = time.perf_counter()
    output.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(output)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    files = {k: [str(d / f"{done['part']}.{k}.parquet") for d, done in parts] for k in ("entities", "pairs")}
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit='{opts.memory_limit}'")
        con.execute(f"SET temp_directory='{staging / 'duckdb_tmp'}'")
        con.execute(f"SET threads={max(1, os.cpu_count() or 1)}")
        n_ent = len(vocab.entities)
        ent_docs = np.zeros(n_ent, np.int64)
        ent_mentions = np.zeros(n_ent, np.int64)
        rows = con.execute(
            f"SELECT id, sum(docs)::BIGINT, sum(mentions)::BIGINT FROM read_parquet({_sql_list(files['entities'])}) "
            "GROUP BY id"
        ).fetchnumpy()
        ids = rows["id"].astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= n_ent):
            raise CoocError("a part refers to entity ids outside the vocabulary; its parts are corrupt")
        ent_docs[ids] = rows[list(rows)[1]]
        ent_mentions[ids] = rows[list(rows)[2]]
        shape = SketchShape.from_mb(opts.sketch_mb, opts.sketch_depth)
        sketch = CountMinSketch(shape)
        kept_keys, kept_docs = [], []
        distinct = 0
        total = 0
        reader = con.sql(
            f"SELECT key, sum(docs)::BIGINT AS docs FROM read_parquet({_sql_list(files['pairs'])}) "
            "GROUP BY key ORDER BY key"
        ).to_arrow_reader(batch_size=1 << 20)
        for batch in reader:
            keys = batch.column(0).to_numpy().astype(np.uint64)
            docs = batch.column(1).to_numpy().astype(np.int64)
            sketch.add(keys, docs)
            distinct += keys.size
            total += int(docs.sum())
            keep = docs >= opts.min_pair_docs
            kept_keys.append(keys[keep])
            kept_docs.append(docs[keep])
    finally:
        con.close()
    shutil.rmtree(staging / "duckdb_tmp", ignore_errors=True)
    pair_keys = np.concatenate(kept_keys) if kept_keys else np.zeros(0, np.uint64)
    pair_docs = np.concatenate(kept_docs) if kept_docs else np.zeros(0, np.int64)
    registers = np.zeros(1 << 14, np.int8)
    for d, done in parts:
        registers = np.maximum(registers, np.load(d / f"{done['part']}.hll.npy"))
    dones = [done for _, done in parts]
    skipped: dict[str, int] = {}
    for done in dones:
        for k, v in done["skipped"].items():
            skipped[k] = skipped.get(k, 0) + v
    settings = dones[0]["settings"]
    fill = sketch.fill()
    result = MergeResult(
        output=output,
        documents=sum(d["documents"] for d in dones),
        tokens=sum(d["tokens"] for d in dones),
        bytes=sum(d["bytes"] for d in dones),
        skipped=skipped,
        duplicates=sum(d.get("duplicates_dropped", 0) for d in dones),
        entities=n_ent,
        entities_seen=int((ent_docs > 0).sum()),
        pairs=distinct,
        pairs_kept=int(pair_keys.size),
        parts=len(parts),
        seconds=0.0,
    )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cooc_version": cooc_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": {
            "documents": result.documents,
            "tokens": result.tokens,
            "bytes": result.bytes,
            "skipped": skipped,
            "skipped_total": sum(skipped.values()),
            "duplicates_dropped": result.duplicates,
        },
        "inputs": [
            {"path": d["file"], "size": d["size"], "documents": d["documents"], "bytes": d["bytes"],
             "skipped": d["skipped"], "duplicates_dropped": d.get("duplicates_dropped", 0), "part": d["part"]}
            for d in dones
        ],
        "config": {
            "window": "doc" if settings["window"] == WINDOW_DOC else settings["window"],
            "normalization_version": settings["normalization_version"],
            "read": {"text_field": settings["text_field"], "id_field": settings["id_field"],
                     "txt_lines": settings["txt_lines"], "max_doc_bytes": settings["max_doc_bytes"]},
            "dedup": settings["dedup"],
            "min_pair_docs": opts.min_pair_docs,
            "vocabulary": {**vocab.source, "entities": n_ent, "aliases": vocab.n_aliases,
                           "fingerprint": vocab.fingerprint()},
            **(extra_config or {}),
        },
        "sketch": {
            **shape.to_dict(),
            "total": total,
            "fill": fill,
            **sketch_error(shape, total, fill),
            "update": "conservative, one update per distinct pair with its total, saturating uint32",
        },
        "counts": {
            "entities": n_ent,
            "entities_seen": result.entities_seen,
            "pairs": distinct,
            "pairs_kept": result.pairs_kept,
            "pairs_hll_estimate": round(hll_estimate(registers)),
        },
    }
    try:
        write_index(staging, vocab, Counts(ent_docs, ent_mentions, pair_keys, pair_docs), manifest, sketch)
    except (OSError, duckdb.Error) as exc:  # disk full while writing: the published index is untouched
        shutil.rmtree(staging, ignore_errors=True)
        raise CoocError(f"could not write the index files into {staging} ({getattr(exc, 'strerror', None) or exc}): "
                        "is the disk full? "
                        f"The previous index in {output} (if any) is untouched and the parts are kept; free space "
                        "and rerun") from None
    publish(staging, output)
    result.seconds = time.perf_counter() - t0
    return result


def merge(sources: list[Path], output: Path, opts: MergeOptions) -> MergeResult:
    """`cooc merge`: every finished part of the sources into one index at `output`."""
    output = Path(output)
    check_output(output, opts.force)
    with DirectoryLock(output):
        vocab, parts = collect([Path(s) for s in sources])
        return merge_parts(vocab, parts, output, opts)


def format_merge(r: MergeResult) -> str:
    dup = f", {r.duplicates} duplicates dropped" if r.duplicates else ""
    skipped = f", skipped {sum(r.skipped.values())} malformed records {r.skipped}" if r.skipped else ""
    kept = f" ({r.pairs_kept:,} in the exact table)" if r.pairs_kept != r.pairs else ""
    return (
        f"index {r.output}: {r.documents:,} documents, {r.tokens:,} tokens, {r.entities:,} entities "
        f"({r.entities_seen:,} seen), {r.pairs:,} pairs{kept} from {r.parts} parts{dup}{skipped}"
    )

