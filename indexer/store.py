"""The on-disk index: a directory with a manifest, a DuckDB store and lookup arrays.

    manifest.json         format version, corpus stats, inputs, configuration
    index.duckdb          entities, aliases, pairs (a < b, sorted by key), meta: the queryable exact store
    vocab.jsonl           the vocabulary (reusable with `cooc build --vocab`)
    entities.docs.npy     int64 per entity id  } memory-mapped by the scorer: a lookup is an array
    entities.mentions.npy int64 per entity id  } index or a binary search, never a SQL round trip
    pairs.keys.npy        uint64 a << 32 | b, sorted (pairs with >= min_pair_docs documents)
    pairs.docs.npy        int64 documents per pair
    sketch.npy            count-min sketch of every pair (uint32 depth x width), memory-mapped
    parts/                per-shard parts (see parts.py), kept for resumption and later merges

The final files are written into a staging directory inside the index, which is
renamed to `gen-N/`; renaming the new manifest (naming `gen-N`) over the old one
switches readers to it atomically (see `publish`). The top-level names are symlinks
into the current generation. A build interrupted at any point leaves the previous
index intact and reruns from its parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .count import split_keys
from .errors import CoocError, IndexFormatError
from .vocab import Vocabulary

FORMAT = "cooc-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUCKDB_FILE = "index.duckdb"
VOCAB_FILE = "vocab.jsonl"
SKETCH_FILE = "sketch.npy"


@dataclass
class Counts:
    entity_docs: np.ndarray  # int64 [n_entities]
    entity_mentions: np.ndarray  # int64 [n_entities]
    pair_keys: np.ndarray  # uint64, sorted, unique
    pair_docs: np.ndarray  # int64


def write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_index(directory: Path, vocab: Vocabulary, counts: Counts, manifest: dict, sketch=None) -> None:
    """Write every index file into `directory` (a fresh staging directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    ents = vocab.entities
    entities = pa.table(
        {
            "id": pa.array([e.id for e in ents], pa.int32()),
            "key": [e.key for e in ents],
            "name": [e.name for e in ents],
            "label": [e.label for e in ents],
            "docs": pa.array(counts.entity_docs, pa.int64()),
            "mentions": pa.array(counts.entity_mentions, pa.int64()),
        }
    )
    alias_rows = [(a, e.id) for e in ents for a in e.aliases]
    aliases = pa.table(
        {"alias_key": [a for a, _ in alias_rows], "id": pa.array([i for _, i in alias_rows], pa.int32())}
    )
    a, b = split_keys(counts.pair_keys)
    pairs = pa.table(
        {
            "a": pa.array(a, pa.int32()),
            "b": pa.array(b, pa.int32()),
            "key": pa.array(counts.pair_keys, pa.uint64()),
            "docs": pa.array(counts.pair_docs, pa.int64()),
        }
    )
    meta = pa.table(
        {
            "name": ["format", "format_version", "window", "normalization_version", "vocab_fingerprint"],
            "value": [
                FORMAT,
                str(FORMAT_VERSION),
                str(manifest["config"]["window"]),
                str(manifest["config"]["normalization_version"]),
                vocab.fingerprint(),
            ],
        }
    )
    con = duckdb.connect(str(directory / DUCKDB_FILE))
    try:
        for name, table in (("entities", entities), ("aliases", aliases), ("pairs", pairs), ("meta", meta)):
            con.register(f"{name}_src", table)
            order = " ORDER BY key" if name == "pairs" else ""
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src{order}")
            con.unregister(f"{name}_src")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    np.save(directory / "entities.docs.npy", counts.entity_docs.astype(np.int64))
    np.save(directory / "entities.mentions.npy", counts.entity_mentions.astype(np.int64))
    np.save(directory / "pairs.keys.npy", counts.pair_keys.astype(np.uint64))
    np.save(directory / "pairs.docs.npy", counts.pair_docs.astype(np.int64))
    if sketch is not None:
        sketch.save(directory / SKETCH_FILE)
    vocab.save(directory / VOCAB_FILE)
    manifest["files"] = {
        f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
        for f in sorted(directory.iterdir()) if f.is_file() and f.name != MANIFEST
    }
    write_json_atomic(directory / MANIFEST, manifest)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(directory: Path) -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        raise IndexFormatError(f"{directory}: no such index directory (build one with `cooc build`)")
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"{directory}: not a cooc index (no {MANIFEST}); build one with `cooc build`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{path}: corrupt manifest ({exc}); rebuild the index") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{directory}: {MANIFEST} is not a cooc index manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{directory}: index format v{version} is newer than this cooc supports (v{FORMAT_VERSION}); upgrade cooc"
        )
    return manifest


def staging_dir(output: Path) -> Path:
    return output / f".staging-{os.getpid()}"


def check_output(output: Path, force: bool) -> None:
    """Refuse to write into anything that is not (or is not becoming) an index, or over an index unless forced."""
    if not output.exists():
        return
    if not output.is_dir():
        raise CoocError(f"{output}: exists and is not a directory; choose another --output")
    if (output / MANIFEST).is_file():
        if not force:
            raise CoocError(f"{output}: an index already exists; pass --force to replace it")
    elif (output / "parts" / VOCAB_FILE).is_file():
        return  # an unfinished build (or one interrupted while publishing): resume it from its parts
    elif any(p.name not in ("parts", ".lock") and not p.name.startswith((".staging-", "gen-"))
             and not p.is_symlink() for p in output.iterdir()):
        raise CoocError(f"{output}: exists, is not empty and is not a cooc index; choose another --output")


def data_dir(directory: Path, manifest: dict) -> Path:
    """Where the manifest's data files are (indexes before generations kept them beside it)."""
    return Path(directory) / manifest.get("data_dir", ".")


def publish(staging: Path, output: Path) -> None:
    """Make a completely written index in `staging` the index at `output`, atomically.

    The data files move as one directory rename into `gen-N/`, then the manifest, which names
    that directory, is renamed over the old one: that rename is the switch, so a reader (or a
    crash) sees the old index or the new one, never a mix. Convenience symlinks at the top
    (`index.duckdb -> gen-N/index.duckdb`, ...) follow, then older generations are removed.
    """
    old_gen = 0
    if (output / MANIFEST).is_file():
        try:
            old_gen = int(json.loads((output / MANIFEST).read_text(encoding="utf-8")).get("generation", 0))
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError):
            old_gen = 0
    gen = old_gen + 1
    gen_dir = output / f"gen-{gen}"
    shutil.rmtree(gen_dir, ignore_errors=True)
    manifest = json.loads((staging / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(generation=gen, data_dir=gen_dir.name)
    (staging / MANIFEST).unlink()
    os.replace(staging, gen_dir)
    write_json_atomic(output / MANIFEST, manifest)
    for f in sorted(gen_dir.iterdir()):
        link = output / f.name
        tmp = output / f".{f.name}.link-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(Path(gen_dir.name) / f.name, tmp)
        os.replace(tmp, link)
    for old in output.iterdir():
        if (old.name.startswith("gen-") and old != gen_dir) or old.name.startswith(".staging-"):
            shutil.rmtree(old, ignore_errors=True)
