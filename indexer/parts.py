"""Per-shard parts: the unit of work, of resumption and of merging.

One input file is one shard. Its part is three files in a parts directory, each
written to a temporary name and renamed, the done marker last:

    <part>.entities.parquet   id, docs, mentions          (entities with docs > 0)
    <part>.pairs.parquet      key (a << 32 | b), docs      (every pair, unpruned)
    <part>.hll.npy            HyperLogLog registers of the shard's pair keys
    <part>.done.json          the shard's stats and the settings it was counted with

A rerun skips a shard whose done marker matches the file (size, mtime) and the
settings (`settings_key`); anything else is counted again. Part names depend only
on the file's path, never on the worker that made them, so the index is the same
for any number of workers, ranks or machines.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .count import Counter
from .errors import CoocError
from .match import Matcher
from .normalize import NORMALIZATION_VERSION
from .read import ReadOptions, ReadStats, read_file
from .sketch import hll_registers
from .store import write_json_atomic
from .vocab import Vocabulary

PART_FORMAT = 1
PARTS_DIR = "parts"
VOCAB_NAME = "vocab.jsonl"


@dataclass(frozen=True)
class PartSettings:
    """Everything that changes a part's numbers; parts merge only when these agree."""

    vocab_fingerprint: str
    window: int
    normalization_version: int
    text_field: str
    id_field: str
    txt_lines: bool
    dedup: str | None
    max_doc_bytes: int

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def settings_for(vocab: Vocabulary, window: int, read: ReadOptions, dedup: str | None) -> PartSettings:
    return PartSettings(
        vocab.fingerprint(), int(window), NORMALIZATION_VERSION, read.text_field, read.id_field, read.txt_lines, dedup,
        read.max_doc_bytes,
    )


def part_name(path: Path) -> str:
    """Readable and unique: the file name plus a hash of its absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', path.name)}-{digest}"


def _atomic(path: Path, write) -> None:
    """Write to a temp file, then rename: a part file is either complete or absent.

    A failed write (disk full, quota, file-size limit) removes its temp file and says which
    file it was; the shard's done marker is written last, so the shard is simply redone.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CoocError(f"could not write {path} ({exc.strerror or exc}): is the disk full? Finished shards are "
                        "kept; free space and rerun the same command to count only the rest") from None


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save(path) would append ".npy" to the temp name
        np.save(fh, array)


def done_marker(parts_dir: Path, path: Path) -> Path:
    return parts_dir / f"{part_name(path)}.done.json"


def is_done(parts_dir: Path, path: Path, settings: PartSettings) -> bool:
    marker = done_marker(parts_dir, path)
    if not marker.is_file():
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


def count_shard(
    path: Path, parts_dir: Path, vocab: Vocabulary, matcher: Matcher, settings: PartSettings, read: ReadOptions,
    skip_docs: set[int] | None = None,
) -> dict:
    """Count one file and write its part; returns the done marker's content.

    skip_docs: ordinals (within this file) of documents dropped as duplicates.
    """
    counter = Counter(len(vocab.entities), settings.window)
    stats = ReadStats()
    ordinal = 0
    dropped = 0
    for batch in read_file(path, read, stats):
        texts = batch.texts
        if skip_docs:
            keep = [t for i, t in enumerate(texts, start=ordinal) if i not in skip_docs]
            dropped += len(texts) - len(keep)
            texts = keep
        ordinal += len(batch.texts)
        if texts:
            counter.add(matcher.match_batch(texts))
    return write_part(path, parts_dir, counter, stats, settings, dropped)


_LOADED: dict = {}  # per process: the vocabulary file last used (path, inode, mtime) and its matcher


def count_shard_with(vocab_path: Path, path: Path, parts_dir: Path, settings: PartSettings, read: ReadOptions,
                     skip_docs: set[int] | None = None) -> dict:
    """count_shard for a worker process (local pool or Ray task): the vocabulary file is loaded and
    its matcher built once per process, not once per shard."""
    st = os.stat(vocab_path)
    ident = (str(vocab_path), st.st_ino, st.st_mtime_ns)  # a vocabulary replaced in place is reloaded
    if _LOADED.get("ident") != ident:
        vocab = Vocabulary.load(Path(vocab_path))
        _LOADED.update(ident=ident, vocab=vocab, matcher=Matcher(vocab.entries()))
    return count_shard(Path(path), Path(parts_dir), _LOADED["vocab"], _LOADED["matcher"], settings, read, skip_docs)


def write_part(path: Path, parts_dir: Path, counter: Counter, stats: ReadStats, settings: PartSettings,
               dropped: int = 0) -> dict:
    """Write a shard's counts as its part, done marker last."""
    keys, docs = counter.pairs()
    name = part_name(path)
    seen = np.flatnonzero(counter.entity_docs)
    entities = pa.table(
        {
            "id": pa.array(seen.astype(np.int32)),
            "docs": pa.array(counter.entity_docs[seen]),
            "mentions": pa.array(counter.entity_mentions[seen]),
        }
    )
    pairs = pa.table({"key": pa.array(keys, pa.uint64()), "docs": pa.array(docs, pa.int64())})
    _atomic(parts_dir / f"{name}.entities.parquet", lambda p: pq.write_table(entities, p, compression="zstd"))
    _atomic(parts_dir / f"{name}.pairs.parquet", lambda p: pq.write_table(pairs, p, compression="zstd"))
    _atomic(parts_dir / f"{name}.hll.npy", lambda p: _save_npy(p, hll_registers(keys)))
    st = path.stat()
    done = {
        "part_format": PART_FORMAT,
        "part": name,
        "file": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "settings": asdict(settings),
        "settings_key": settings.key(),
        "documents": stats.documents - dropped,
        "duplicates_dropped": dropped,
        "tokens": counter.tokens,
        "bytes": stats.bytes,
        "skipped": dict(stats.skipped),
        "pairs": int(keys.size),
    }
    write_json_atomic(parts_dir / f"{name}.done.json", done)
    return done


def load_done(parts_dir: Path) -> list[dict]:
    """Done markers of a parts directory, sorted by part name."""
    out = []
    for marker in sorted(parts_dir.glob("*.done.json")):
        try:
            done = json.loads(marker.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CoocError(f"{marker}: corrupt done marker; delete it and rerun the build for that shard") from None
        if done.get("part_format") != PART_FORMAT:
            raise CoocError(f"{marker}: part format {done.get('part_format')} is not supported by this cooc")
        out.append(done)
    return out


def shared_vocab(parts_dir: Path, vocab: Vocabulary, replace: bool = False) -> None:
    """Store the vocabulary beside the parts, or check that the one there is the same.

    replace: parts counted with another vocabulary are deleted (a forced rebuild) instead of refused.
    """
    path = parts_dir / VOCAB_NAME
    if path.is_file():
        try:
            same = Vocabulary.load(path).fingerprint() == vocab.fingerprint()
        except CoocError:  # unreadable or another normalization version
            same = False
        if not same and replace:
            for f in parts_dir.iterdir():
                if f.is_file():
                    f.unlink()
        elif not same:
            raise CoocError(
                f"{parts_dir}: holds parts counted with another vocabulary; use a new --output, or "
                f"pass --vocab {path} to count with the same one, or --force to discard them"
            )
    if not path.is_file():
        vocab.save(path)
