"""The index layout: every file name of an index and how its arrays load. One contract for
writing (`store.py`), verifying (`verify.py`) and opening (`cooc.scorer.index`).

    manifest.json             format version, corpus stats, inputs, configuration, checksums
    gen-N/index.duckdb        names, aliases, pairs (a < b, sorted by key), meta: the queryable exact store
    gen-N/names.hash.npy      uint64 name hashes, sorted; a name's id is its row
    gen-N/names.check.npy     uint64 second hash of each name (collision check)
    gen-N/names.docs.npy      int64 documents naming it      } memory-mapped by the scorer: a lookup
    gen-N/names.mentions.npy  int64 mentions                 } is a binary search or an array index,
    gen-N/names.lower.npy     int64 lowercase uses of a one-word name ("film")   never a SQL round trip
    gen-N/names.flags.npy     uint8 kinds found as (bits 0-4: name, title, number, inner, gazetteer),
                              bit 7: a common word (one word the corpus mostly writes in lowercase)
    gen-N/names.label.npy     uint16 code into manifest["labels"]
    gen-N/names.text.bin      UTF-8 display names, concatenated; names.offsets.npy (int64, n + 1) cuts them
    gen-N/aliases.hash.npy    uint64 gazetteer alias hashes, sorted; aliases.id.npy their name ids
    gen-N/pairs.keys.npy      uint64 a << 32 | b (name ids, a < b), sorted
    gen-N/pairs.docs.npy      int64 documents per pair
    gen-N/sketch.npy          count-min sketch of every pair (uint32 depth x width)
    gen-N/evidence/           tantivy full-text store of the documents (see evidence.py); absent with --no-evidence
    parts/                    per-shard parts (see parts.py), kept for resumption and later merges
    parts/<part>.evidence/    a shard's tantivy store, merged into gen-N/evidence/ by segment lists

The top-level names are symlinks into the current generation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import IndexFormatError

FORMAT = "cooc-index"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
DUCKDB_FILE = "index.duckdb"
SKETCH_FILE = "sketch.npy"
PARTS_DIR = "parts"
MERGE_WORK_DIR = ".merge-work"  # buckets of an unfinished merge, removed once the index is published
EVIDENCE_DIR = "evidence"
EVIDENCE_PART_SUFFIX = ".evidence"
NAMES_TEXT = "names.text.bin"
COMMON_FLAG = 0x80

#: array name -> (file, dtype)
ARRAYS = {
    "hash": ("names.hash.npy", np.uint64),
    "check": ("names.check.npy", np.uint64),
    "docs": ("names.docs.npy", np.int64),
    "mentions": ("names.mentions.npy", np.int64),
    "lower": ("names.lower.npy", np.int64),
    "flags": ("names.flags.npy", np.uint8),
    "label": ("names.label.npy", np.uint16),
    "offsets": ("names.offsets.npy", np.int64),
    "alias_hash": ("aliases.hash.npy", np.uint64),
    "alias_id": ("aliases.id.npy", np.int64),
    "pair_keys": ("pairs.keys.npy", np.uint64),
    "pair_docs": ("pairs.docs.npy", np.int64),
}


def save_arrays(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save every array; one already memory-mapped from its own file in `directory` is flushed instead."""
    for name, (file, dtype) in ARRAYS.items():
        a = arrays[name]
        if isinstance(a, np.memmap) and a.filename and Path(a.filename) == (directory / file).resolve():
            a.flush()
        else:
            np.save(directory / file, np.ascontiguousarray(a, dtype=dtype))


def _corrupt(path: Path, what: str) -> IndexFormatError:
    return IndexFormatError(f"{path}: {what}; the index is damaged: rebuild it (`cooc stats --verify` lists what)")


def load_array(path: Path, dtype, ndim: int = 1) -> np.ndarray:
    """One array memory-mapped, or a one-line error naming the file (truncated, bad header, empty,
    wrong dtype or shape): what the header claims is checked against the file, never trusted."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise _corrupt(path, "missing") from None
    except (ValueError, OSError, EOFError) as exc:
        raise _corrupt(path, f"not a readable .npy array ({exc})") from None
    if a.dtype != np.dtype(dtype) or a.ndim != ndim:
        raise _corrupt(path, f"holds {a.dtype} of {a.ndim} dimensions, expected {np.dtype(dtype)} of {ndim}")
    # plain ndarray views of the maps: np.memmap's subclass hooks cost microseconds per scalar lookup
    return a.view(np.ndarray)


def load_arrays(directory: Path) -> dict[str, np.ndarray]:
    """Every array memory-mapped: opening costs milliseconds whatever the number of names."""
    return {name: load_array(directory / file, dtype) for name, (file, dtype) in ARRAYS.items()}


def check_lengths(directory: Path, a: dict[str, np.ndarray], text_bytes: int) -> None:
    """The arrays agree in length (cheap: shapes and two scalars, no pass over the data)."""
    n = a["hash"].shape[0]
    for name in ("check", "docs", "mentions", "lower", "flags", "label"):
        if a[name].shape[0] != n:
            raise _corrupt(directory / ARRAYS[name][0], f"{a[name].shape[0]} rows, the name table has {n}")
    offsets = a["offsets"]
    if offsets.shape[0] != n + 1 or int(offsets[0]) != 0 or int(offsets[-1]) != text_bytes:
        raise _corrupt(directory / ARRAYS["offsets"][0], f"does not cut {NAMES_TEXT} ({text_bytes} bytes) into {n} names")
    for x, y in (("alias_hash", "alias_id"), ("pair_keys", "pair_docs")):
        if a[x].shape != a[y].shape:
            raise _corrupt(directory / ARRAYS[y][0], f"{a[y].shape[0]} rows, {ARRAYS[x][0]} has {a[x].shape[0]}")
