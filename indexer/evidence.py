"""The evidence store: a tantivy full-text index of the same documents, written in the counting pass.

Each shard writes its own tantivy index next to its part (`<part>.evidence/`), from the very texts
the counter reads (so duplicates dropped by --dedup are dropped here too), committed and renamed
into place before the shard's done marker: a killed build keeps every finished shard's store and
a rerun redoes only the rest. Publishing an index copies the parts' segments into one tantivy
index (`gen-N/evidence/`, a union of segment lists; no re-indexing), because one searcher over
all segments answers a count in one call where searching part indexes one by one costs a call
per part (see the README's measurement).

A document keeps its id (the id field, else file:record), its source file and record number,
and its text (stored, lz4-compressed by tantivy: snippets need it and re-reading compressed
shards at query time cannot answer in a millisecond). Text is tokenized on letters and digits,
lowercased and ASCII-folded; names are searched as phrases of their normalized key's tokens.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import CoocError
from .layout import EVIDENCE_DIR, EVIDENCE_PART_SUFFIX

TOKENIZER = "cooc"
#: Tokens longer than this are not indexed (a tantivy term must stay far below its 64 KB limit).
MAX_TOKEN_CHARS = 100
HEAP_BYTES = 64_000_000  # per shard writer: tantivy's minimum is 15 MB per thread


def _tantivy():
    try:
        import tantivy
    except ImportError:  # a core dependency; only a broken install lacks it
        raise CoocError("the evidence store needs tantivy (pip install tantivy), or build with --no-evidence") from None
    return tantivy


def analyzer():
    """The one tokenizer of the store, for documents and for queries."""
    t = _tantivy()
    return (t.TextAnalyzerBuilder(t.Tokenizer.simple()).filter(t.Filter.remove_long(MAX_TOKEN_CHARS))
            .filter(t.Filter.lowercase()).filter(t.Filter.ascii_fold()).build())


def schema():
    t = _tantivy()
    sb = t.SchemaBuilder()
    sb.add_text_field("text", stored=True, tokenizer_name=TOKENIZER, index_option="position")
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("file", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_unsigned_field("record", stored=True)
    return sb.build()


def open_store(path: Path):
    """A tantivy index of the evidence layout, with its tokenizer registered."""
    t = _tantivy()
    index = t.Index(schema(), path=str(path), reuse=True)
    index.register_tokenizer(TOKENIZER, analyzer())
    return index


def part_store(parts_dir: Path, part: str) -> Path:
    return parts_dir / f"{part}{EVIDENCE_PART_SUFFIX}"


class EvidenceWriter:
    """Indexes one shard's documents into a temporary directory; `close` commits and renames it into place."""

    def __init__(self, parts_dir: Path, part: str, file: Path):
        self.final = part_store(parts_dir, part)
        self.tmp = parts_dir / f".{self.final.name}.tmp-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.file = str(file.resolve())
        self._t = _tantivy()
        self._writer = open_store(self.tmp).writer(heap_size=HEAP_BYTES, num_threads=1)

    def add(self, ids: list[str], texts: list[str], records: list[int]) -> None:
        doc_type, writer, file = self._t.Document, self._writer, self.file
        for doc_id, text, record in zip(ids, texts, records, strict=True):
            d = doc_type()
            d.add_text("text", text)
            d.add_text("id", doc_id)
            d.add_text("file", file)
            d.add_unsigned("record", record)
            writer.add_document(d)

    def close(self) -> None:
        try:
            self._writer.commit()
            self._writer.wait_merging_threads()
        except ValueError as exc:  # tantivy reports I/O errors (disk full) as ValueError
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise CoocError(f"could not write the evidence store {self.final} ({exc}): is the disk full? Finished "
                            "shards are kept; free space and rerun the same command") from None
        for lock in self.tmp.glob(".tantivy-*.lock"):
            lock.unlink()
        shutil.rmtree(self.final, ignore_errors=True)
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _segment_files(store: Path, segment_id: str) -> list[Path]:
    return sorted(store.glob(segment_id.replace("-", "") + ".*"))


def merge_stores(stores: list[Path], dest: Path) -> dict:
    """One tantivy index whose segments are those of `stores` (hard links, else copies): no re-indexing.

    tantivy's meta.json lists an index's segments; the union of the lists over identical schemas
    is a valid index of all their documents.
    """
    dest.mkdir(parents=True)
    metas = [json.loads((s / "meta.json").read_text(encoding="utf-8")) for s in stores]
    segments = []
    for store, meta in zip(stores, metas, strict=True):
        for seg in meta["segments"]:
            for f in _segment_files(store, seg["segment_id"]):
                _link_or_copy(f, dest / f.name)
            segments.append(seg)
    merged = dict(metas[0]) if metas else json.loads((_empty_store(dest) / "meta.json").read_text(encoding="utf-8"))
    merged["segments"] = segments
    merged["opstamp"] = max((m["opstamp"] for m in metas), default=0)
    (dest / "meta.json").write_text(json.dumps(merged), encoding="utf-8")
    shutil.rmtree(dest / ".empty", ignore_errors=True)
    docs = sum(seg["max_doc"] for seg in segments)
    size = sum(f.stat().st_size for f in dest.iterdir() if f.is_file())
    return {"dir": EVIDENCE_DIR, "documents": docs, "segments": len(segments), "bytes": size,
            "tokenizer": "simple, lowercase, ascii_fold", "stored_text": True}


def _empty_store(dest: Path) -> Path:
    """A committed empty index, for the meta.json of a store with no parts."""
    empty = dest / ".empty"
    w = open_store(empty).writer(heap_size=HEAP_BYTES, num_threads=1)
    w.commit()
    w.wait_merging_threads()
    return empty


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
