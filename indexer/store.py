"""The on-disk index: a directory with a manifest, a DuckDB store and lookup arrays (`layout.py`).

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

import numpy as np
import pyarrow as pa

from .atomic import write_json_atomic
from .count import split_keys
from .duck import connect
from .errors import CoocError, IndexFormatError
from .layout import (
    COMMON_FLAG,
    DUCKDB_FILE,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MERGE_WORK_DIR,
    NAMES_TEXT,
    PARTS_DIR,
    SKETCH_FILE,
    save_arrays,
)
from .lock import LEASE_FILE, remove_if_unleased
from .normalize import normalize_key

__all__ = ["DUCKDB_FILE", "FORMAT", "FORMAT_VERSION", "MANIFEST", "SKETCH_FILE", "NameTable", "Pairs",
           "check_manifest", "check_output", "data_dir", "file_sha256", "manifest_checksum", "publish", "read_manifest", "staging_dir", "write_index",
           "write_json_atomic"]


@dataclass
class NameTable:
    """Every name of an index, sorted by hash; a name's id is its row."""

    hash: np.ndarray  # uint64
    check: np.ndarray  # uint64
    docs: np.ndarray  # int64
    mentions: np.ndarray  # int64
    lower: np.ndarray  # int64 lowercase uses (one-word names)
    flags: np.ndarray  # uint8 kinds | COMMON_FLAG
    label: np.ndarray  # uint16 code into labels
    names: list[str]
    labels: list[str]
    alias_hash: np.ndarray  # uint64 sorted
    alias_id: np.ndarray  # int64


@dataclass
class Pairs:
    keys: np.ndarray  # uint64 a << 32 | b, sorted, unique
    docs: np.ndarray  # int64


def _duckdb_tables(t: NameTable, pairs: Pairs, manifest: dict) -> dict[str, pa.Table]:
    n = t.hash.shape[0]
    return {
        "names": pa.table({
            "id": pa.array(np.arange(n, dtype=np.int32)),
            "hash": pa.array(t.hash, pa.uint64()),
            "key": [normalize_key(x) for x in t.names],
            "name": t.names,
            "label": [t.labels[c] for c in t.label.tolist()],
            "docs": pa.array(t.docs, pa.int64()),
            "mentions": pa.array(t.mentions, pa.int64()),
            "lowercase_uses": pa.array(t.lower, pa.int64()),
            "common_word": pa.array((t.flags & COMMON_FLAG) != 0),
        }),
        "aliases": pa.table({"alias_hash": pa.array(t.alias_hash, pa.uint64()), "id": pa.array(t.alias_id, pa.int32())}),
        "meta": pa.table({"name": ["format", "format_version", "window", "normalization_version"],
                          "value": [FORMAT, str(FORMAT_VERSION), str(manifest["config"]["window"]),
                                    str(manifest["config"]["normalization_version"])]}),
    }


#: Pairs copied into DuckDB per INSERT: bounds the memory of the copy (~0.2 GB) whatever the pair count.
PAIR_CHUNK = 1 << 23


def _pair_chunks(pairs: Pairs):
    for at in range(0, max(pairs.keys.shape[0], 1), PAIR_CHUNK):
        keys = np.asarray(pairs.keys[at : at + PAIR_CHUNK])
        a, b = split_keys(keys)
        yield pa.table({"a": pa.array(a, pa.int32()), "b": pa.array(b, pa.int32()), "key": pa.array(keys, pa.uint64()),
                        "docs": pa.array(np.asarray(pairs.docs[at : at + PAIR_CHUNK]), pa.int64())})


def write_index(directory: Path, table: NameTable, pairs: Pairs, manifest: dict, sketch=None) -> None:
    """Write every index file into `directory` (a fresh staging directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    con = connect(directory / DUCKDB_FILE)
    try:
        for name, tbl in _duckdb_tables(table, pairs, manifest).items():
            con.register(f"{name}_src", tbl)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src")
            con.unregister(f"{name}_src")
        for i, chunk in enumerate(_pair_chunks(pairs)):
            con.register("pairs_src", chunk)
            con.execute("CREATE TABLE pairs AS SELECT * FROM pairs_src" if i == 0 else
                        "INSERT INTO pairs SELECT * FROM pairs_src")
            con.unregister("pairs_src")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    encoded = [x.encode("utf-8", "surrogatepass") for x in table.names]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in encoded], out=offsets[1:])
    (directory / NAMES_TEXT).write_bytes(b"".join(encoded))
    save_arrays(directory, {"hash": table.hash, "check": table.check, "docs": table.docs, "mentions": table.mentions,
                            "lower": table.lower, "flags": table.flags, "label": table.label, "offsets": offsets,
                            "alias_hash": table.alias_hash, "alias_id": table.alias_id,
                            "pair_keys": pairs.keys, "pair_docs": pairs.docs})
    if sketch is not None:
        sketch.save(directory / SKETCH_FILE)
    manifest["labels"] = table.labels
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


MANIFEST_CHECKSUM = "manifest_sha256"


def manifest_checksum(manifest: dict) -> str:
    """sha256 of the manifest's content (without this checksum), canonically serialized."""
    body = {k: v for k, v in manifest.items() if k != MANIFEST_CHECKSUM}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


#: (path into the manifest, check, what it must be): what readers use, checked at every open
_FIELDS = (
    (("corpus", "documents"), _is_count, "a count of documents"),
    (("corpus", "tokens"), _is_count, "a count"),
    (("corpus", "bytes"), _is_count, "a count"),
    (("corpus", "skipped"), lambda x: isinstance(x, dict), "an object"),
    (("corpus", "skipped_total"), _is_count, "a count"),
    (("config", "window"), lambda x: x == "doc" or _is_count(x), "a number of tokens or \"doc\""),
    (("config", "names", "rules"), lambda x: isinstance(x, bool), "true or false"),
    (("config", "names", "max_tokens"), _is_count, "a count"),
    (("labels",), lambda x: isinstance(x, list) and all(isinstance(v, str) for v in x), "a list of labels"),
    (("counts",), lambda x: isinstance(x, dict), "an object"),
    (("inputs",), lambda x: isinstance(x, list), "a list"),
    (("files",), lambda x: isinstance(x, dict), "an object"),
    (("data_dir",), lambda x: isinstance(x, str) and "/" not in x and x not in ("", ".."), "a generation name"),
)


def _field(manifest: dict, keys: tuple[str, ...]):
    value = manifest
    for k in keys:
        if not isinstance(value, dict) or k not in value:
            raise KeyError(k)
        value = value[k]
    return value


def check_manifest(path: Path, manifest: dict) -> None:
    """Every field a reader uses is there and of its type, and the content matches its checksum."""
    for keys, ok, what in _FIELDS:
        if keys == ("data_dir",) and "data_dir" not in manifest:
            continue  # an index written before generations
        try:
            value = _field(manifest, keys)
        except KeyError:
            raise IndexFormatError(f"{path}: no '{'.'.join(keys)}'; the manifest is damaged: rebuild the index") from None
        if not ok(value):
            raise IndexFormatError(f"{path}: '{'.'.join(keys)}' is {value!r}, not {what}; the manifest is damaged: "
                                   "rebuild the index")
    if "sketch" in manifest:
        from .sketch import SketchShape

        try:
            SketchShape.from_dict(manifest["sketch"])
            float(manifest["sketch"]["bound"]), float(manifest["sketch"]["false_positive_rate"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"{path}: 'sketch' is damaged ({type(exc).__name__}: {exc}); rebuild the index") \
                from None
    listed = manifest.get(MANIFEST_CHECKSUM)
    if listed is not None and listed != manifest_checksum(manifest):
        raise IndexFormatError(f"{path}: content does not match its checksum (edited after the build?); rebuild "
                               "the index")


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
    if not isinstance(version, int) or isinstance(version, bool):
        raise IndexFormatError(f"{path}: format_version {version!r} is not a whole number; the manifest is damaged: "
                               "rebuild the index")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{directory}: index format v{version} is newer than this cooc supports (v{FORMAT_VERSION}); upgrade cooc"
        )
    if version < FORMAT_VERSION:
        raise IndexFormatError(
            f"{directory}: index format v{version} was written by an older cooc (vocabulary ids); this cooc reads "
            f"v{FORMAT_VERSION} (name hashes): rebuild it with `cooc build ... --force`"
        )
    check_manifest(path, manifest)
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
    elif (output / PARTS_DIR).is_dir():
        return  # an unfinished build (or one interrupted while publishing): resume it from its parts
    elif any(p.name not in (PARTS_DIR, ".lock", MERGE_WORK_DIR) and not p.name.startswith((".staging-", "gen-"))
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
    manifest[MANIFEST_CHECKSUM] = manifest_checksum(manifest)
    (staging / MANIFEST).unlink()
    (staging / LEASE_FILE).touch()
    os.replace(staging, gen_dir)
    write_json_atomic(output / MANIFEST, manifest)
    for f in sorted(gen_dir.iterdir()):
        if f.name.startswith("."):
            continue
        link = output / f.name
        tmp = output / f".{f.name}.link-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(Path(gen_dir.name) / f.name, tmp)
        os.replace(tmp, link)
    for old in output.iterdir():
        if old.name.startswith("gen-") and old != gen_dir:
            remove_if_unleased(old)
        elif old.name.startswith(".staging-"):
            shutil.rmtree(old, ignore_errors=True)
