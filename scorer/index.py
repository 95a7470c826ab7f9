"""Open an index read-only and answer name and pair lookups in microseconds.

Opening memory-maps the arrays the build wrote (`cooc.indexer.layout`) and builds nothing:
milliseconds and megabytes whatever the number of names. A name is looked up by its hash
(a binary search), a pair by a binary search of the sorted pair keys; DuckDB stays available
(`Index.sql`) for ad-hoc queries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cooc.indexer.errors import IndexFormatError
from cooc.indexer.layout import (
    COMMON_FLAG,
    DUCKDB_FILE,
    EVIDENCE_DIR,
    NAMES_TEXT,
    SKETCH_FILE,
    check_lengths,
    load_arrays,
)
from cooc.indexer.lock import ReaderLease
from cooc.indexer.names import key_position
from cooc.indexer.normalize import normalize_key
from cooc.indexer.sketch import CountMinSketch, SketchShape
from cooc.indexer.store import data_dir, read_manifest

from .evidence import EvidenceDoc, EvidenceResult, EvidenceStore
from .features import npmi_many
from .options import TOP_ORDERS


@dataclass(frozen=True)
class EntityCount:
    """A name the corpus writes, with its counts (common: a one-word name mostly written in lowercase)."""

    id: int
    key: str
    name: str
    label: str
    docs: int  # documents naming it (any alias)
    mentions: int
    common: bool = False
    lowercase_uses: int = 0


@dataclass(frozen=True)
class PairCount:
    """docs: documents where both names occur within the index's window.

    source "exact": from the exact table (when the table is complete, 0 means never).
    source "sketch": the pair was pruned from the exact table (--min-pair-docs); docs is the
    count-min sketch's upper bound (a 0 is a certified 0), `bound` its eps*N over-count bound and
    `false_positive_rate` the chance that a never-seen pair reads > 0 at the sketch's fill.
    """

    a: int  # smaller id
    b: int
    docs: int
    source: str
    bound: float | None = None
    false_positive_rate: float | None = None


#: times Index.open reads the manifest again when a republish removed the generation it named
OPEN_ATTEMPTS = 20


@dataclass(frozen=True)
class Neighbour:
    """A name that co-occurs with the queried one.

    docs: documents where both occur within the window (higher = more often together);
    npmi in [-1, 1]: higher = more exclusively together (1: only ever together).
    """

    id: int
    name: str
    docs: int
    name_docs: int  # documents naming the neighbour at all
    npmi: float


class Index:
    """A read-only view of one generation of an index directory, held (`ReaderLease`) while open:
    a republish never removes the files it reads, `sql` included."""

    def __init__(self, path: Path, manifest: dict, lease: ReaderLease | None = None):
        self.path = path
        self.manifest = manifest
        self.data = data_dir(path, manifest)
        self._lease = lease
        a = load_arrays(self.data)
        self._hash, self._docs, self._mentions = a["hash"], a["docs"], a["mentions"]
        self._lower, self._flags, self._label, self._offsets = a["lower"], a["flags"], a["label"], a["offsets"]
        self._alias_hash, self._alias_id = a["alias_hash"], a["alias_id"]
        self._pair_keys, self._pair_docs = a["pair_keys"], a["pair_docs"]
        text = self.data / NAMES_TEXT
        if not text.is_file():
            raise IndexFormatError(f"{text}: missing; the index is damaged: rebuild it")
        self._text = np.memmap(text, dtype=np.uint8, mode="r").view(np.ndarray) if text.stat().st_size else \
            np.zeros(0, np.uint8)
        self._text_view = memoryview(self._text)
        check_lengths(self.data, a, self._text.shape[0])
        self.labels: list[str] = manifest["labels"]
        self.max_tokens = int(manifest["config"]["names"]["max_tokens"])
        #: the index counts every name the corpus writes (False: only a fixed list, `cooc build --vocab`)
        self.counts_every_name = bool(manifest["config"]["names"]["rules"])
        self._min_pair_docs = int(manifest["config"].get("min_pair_docs", 1))
        counts = manifest.get("counts", {})
        #: the exact pair table holds every pair (no --min-pair-docs, or it pruned nothing): no sketch needed
        self.exact_table_complete = self._min_pair_docs <= 1 or counts.get("pairs_kept") == counts.get("pairs")
        self._sketch = None
        self._store: EvidenceStore | None = None
        if not self.exact_table_complete and (self.data / SKETCH_FILE).is_file():
            try:
                self._sketch = CountMinSketch.load(self.data / SKETCH_FILE, SketchShape.from_dict(manifest["sketch"]))
            except (ValueError, OSError, EOFError) as exc:
                raise IndexFormatError(f"{self.data / SKETCH_FILE}: unreadable ({exc}); rebuild the index") from None

    @classmethod
    def open(cls, path: str | Path) -> Index:
        """The current generation; one that a concurrent republish removes meanwhile is retried."""
        path = Path(path)
        for _ in range(OPEN_ATTEMPTS):
            manifest = read_manifest(path)
            lease = ReaderLease.acquire(data_dir(path, manifest))
            if lease is None:
                continue
            try:
                return cls(path, manifest, lease)
            except IndexFormatError:
                lease.release()
                if data_dir(path, manifest).is_dir():  # damaged, not republished
                    raise
        raise IndexFormatError(f"{path}: republished {OPEN_ATTEMPTS} times while opening; retry when the build is done")

    @property
    def documents(self) -> int:
        return int(self.manifest["corpus"]["documents"])

    @property
    def window(self) -> int | str:
        return self.manifest["config"]["window"]

    @property
    def n_names(self) -> int:
        return int(self._hash.shape[0])

    def name_of(self, eid: int) -> str:
        # .item() and a memoryview slice: Python ints and one copy (numpy scalars and an array view cost ~1 us more)
        return self._text_view[self._offsets.item(eid) : self._offsets.item(eid + 1)].tobytes().decode(
            "utf-8", "surrogatepass")

    def entity_by_id(self, eid: int) -> EntityCount:
        eid = int(eid)
        name = self.name_of(eid)
        label = self._label.item(eid)  # counts of a damaged file never go below 0 (logs, divisions)
        return EntityCount(eid, normalize_key(name), name, self.labels[label] if label < len(self.labels) else "",
                           max(0, self._docs.item(eid)), max(0, self._mentions.item(eid)),
                           bool(self._flags.item(eid) & COMMON_FLAG), max(0, self._lower.item(eid)))

    def ids(self, hashes: np.ndarray) -> np.ndarray:
        """The name id of each hash (a name, or a gazetteer alias of one); -1 where the corpus never writes it."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        out = np.full(hashes.shape, -1, dtype=np.int64)
        for keys, values in ((self._hash, None), (self._alias_hash, self._alias_id)):
            n = keys.shape[0]
            if not n or not hashes.size:
                continue
            idx = np.minimum(np.searchsorted(keys, hashes), n - 1)
            hit = (keys[idx] == hashes) & (out < 0)
            out[hit] = idx[hit] if values is None else values[idx[hit]]
        return out

    def is_common(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        return np.where(ids >= 0, (self._flags[np.maximum(ids, 0)] & COMMON_FLAG) != 0, False) if ids.size else \
            np.zeros(0, bool)

    def id_of(self, text: str) -> int:
        """The id of the name (or gazetteer alias) `text` denotes, exactly; -1 when the corpus never writes it."""
        k, h = key_position(text, self._hash)  # hash and search in one kernel call: the common case
        if k >= 0:
            return k
        if self._alias_hash.shape[0]:
            k = int(self._alias_hash.searchsorted(np.uint64(h)))
            if k < self._alias_hash.shape[0] and self._alias_hash[k] == h:
                return int(self._alias_id[k])
        return -1

    def docs(self, text: str) -> int:
        """Documents naming `text` (0 when the corpus never writes it): the count lookup, in microseconds."""
        eid = self.id_of(text)
        return max(0, self._docs.item(eid)) if eid >= 0 else 0  # .item: a Python int, 0.5 us less than int(a[i])

    def entity(self, text: str) -> EntityCount | None:
        """The name (or gazetteer alias) `text` denotes, exactly; None when the corpus never writes it."""
        eid = self.id_of(text)
        return None if eid < 0 else self.entity_by_id(eid)

    def pair(self, a: int, b: int) -> PairCount:
        lo, hi = (a, b) if a < b else (b, a)
        key = np.uint64((lo << 32) | hi)
        k = int(self._pair_keys.searchsorted(key))
        if k < self._pair_keys.shape[0] and self._pair_keys[k] == key:
            return PairCount(lo, hi, max(0, int(self._pair_docs[k])), "exact")
        if self.exact_table_complete:
            return PairCount(lo, hi, 0, "exact")
        return self.pairs(np.array([a]), np.array([b]))[0]  # pruned: the sketch's bound

    def pairs(self, a: np.ndarray, b: np.ndarray) -> list[PairCount]:
        """pair() for many (a, b) at once: one vectorized search of the sorted key array."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keys = (lo.astype(np.uint64) << np.uint64(32)) | hi.astype(np.uint64)
        n = self._pair_keys.shape[0]
        idx = np.minimum(np.searchsorted(self._pair_keys, keys), max(n - 1, 0))
        found = (self._pair_keys[idx] == keys) if n else np.zeros(keys.shape, bool)
        docs = np.maximum(np.where(found, self._pair_docs[idx] if n else 0, 0), 0).astype(np.int64)
        if self.exact_table_complete or self._sketch is None or found.all():
            return [PairCount(int(x), int(y), int(d), "exact") for x, y, d in zip(lo, hi, docs, strict=True)]
        est = np.minimum(self._sketch.query(keys), self._min_pair_docs - 1)
        sk = self.manifest["sketch"]
        return [
            PairCount(int(x), int(y), int(d), "exact") if f
            else PairCount(int(x), int(y), int(e), "sketch", sk["bound"], sk["false_positive_rate"])
            for x, y, d, e, f in zip(lo, hi, docs, est, found, strict=True)
        ]

    def neighbours(self, eid: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, docs) of every name paired with `eid` in the exact table, from the sorted key array.

        Keys are (a << 32 | b) with a < b: the pairs where eid is `a` are one contiguous run (two
        binary searches); those where it is `b` all sit before that run (one vectorized scan of it).
        """
        keys, x = self._pair_keys, np.uint64(eid)
        lo = int(keys.searchsorted(x << np.uint64(32)))
        hi = int(keys.searchsorted((x + np.uint64(1)) << np.uint64(32)))
        low = keys[:lo]
        below = (low & np.uint64(0xFFFFFFFF)) == x
        ids = np.concatenate([(low[below] >> np.uint64(32)), keys[lo:hi] & np.uint64(0xFFFFFFFF)]).astype(np.int64)
        docs = np.concatenate([self._pair_docs[:lo][below], self._pair_docs[lo:hi]]).astype(np.int64)
        return ids, docs

    def top(self, name: str | int, k: int = 20, by: str = "docs", min_docs: int = 1) -> list[Neighbour]:
        """The k names that co-occur most with `name` (a name, alias or id): by documents or by NPMI.

        Ties go to the other measure, then to the lower id. Only the exact table is searched (an
        index pruned with --min-pair-docs holds no pair below it). [] for a name the corpus never writes.
        """
        if by not in TOP_ORDERS:
            raise ValueError(f"by must be one of {TOP_ORDERS}, got {by!r}")
        eid = self.id_of(name) if isinstance(name, str) else int(name)
        if eid < 0:
            return []
        ids, docs = self.neighbours(eid)
        keep = docs >= min_docs
        ids, docs = ids[keep], docs[keep]
        other = self._docs[ids]
        score = npmi_many(docs, self._docs[eid], other, self.documents)
        primary, secondary = (docs, score) if by == "docs" else (score, docs)
        order = np.lexsort((ids, -secondary, -primary))[:k]
        return [Neighbour(int(ids[i]), self.name_of(int(ids[i])), int(docs[i]), int(other[i]), round(float(score[i]), 6))
                for i in order]
    @property
    def has_evidence(self) -> bool:
        return bool(self.manifest.get("evidence")) and (self.data / EVIDENCE_DIR / "meta.json").is_file()

    @property
    def store(self) -> EvidenceStore:
        """The evidence store, opened on first use (a CoocError when the index was built with --no-evidence)."""
        if self._store is None:
            self._store = EvidenceStore(self.data / EVIDENCE_DIR)
        return self._store

    def evidence(self, names: list[str], window: int | None = None, limit: int = 10) -> EvidenceResult:
        """The documents where all `names` occur (within `window` words; None: anywhere), with snippets.
        A string the name table holds is searched by its normalized key, any other as a phrase of its words."""
        return self.store.evidence(names, window, limit, [self.id_of(n) >= 0 for n in names])

    def phrase_docs(self, phrases: list[str]) -> int:
        """Documents containing every phrase (any strings, taken word for word): the evidence store's AND count."""
        return self.store.count(phrases=phrases)

    def retrieve(self, question: str, k: int = 3) -> list[EvidenceDoc]:
        """BM25 top-k documents of the indexed corpus for a question."""
        return self.store.retrieve(question, k)

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        """Run a read-only SQL query against index.duckdb (names, aliases, pairs, meta)."""
        from cooc.indexer.duck import connect

        con = connect(self.data / DUCKDB_FILE, read_only=True)
        try:
            return con.execute(query, params or []).fetchall()
        finally:
            con.close()


def index_stats(path: str | Path) -> dict:
    """Headline numbers of an index, from its manifest and files (no counting)."""
    path = Path(path)
    m = read_manifest(path)
    return {
        "index": str(path),
        "documents": m["corpus"]["documents"],
        "tokens": m["corpus"]["tokens"],
        "text_bytes": m["corpus"]["bytes"],
        "skipped_records": m["corpus"]["skipped_total"],
        "skipped_by_reason": m["corpus"]["skipped"],
        "names": m["counts"]["names"],
        "common_words": m["counts"]["common_words"],
        "aliases": m["counts"]["aliases"],
        "hash_collisions": m["counts"]["hash_collisions"],
        "pairs": m["counts"]["pairs"],
        "pairs_in_exact_table": m["counts"].get("pairs_kept", m["counts"]["pairs"]),
        "pairs_hll_estimate": m["counts"].get("pairs_hll_estimate"),
        "min_pair_docs": m["config"].get("min_pair_docs", 1),
        "duplicates_dropped": m["corpus"].get("duplicates_dropped", 0),
        "sketch": {k: m["sketch"][k] for k in ("depth", "width", "fill", "bound", "false_positive_rate")}
        if "sketch" in m else None,
        "window": m["config"]["window"],
        "name_rule": {k: m["config"]["names"][k] for k in ("rules", "inner", "gazetteer", "rule_version")},
        "input_files": len(m["inputs"]),
        "disk_bytes": sum(f.stat().st_size for f in data_dir(path, m).iterdir() if f.is_file()),
        "created": m["created"],
        "cooc_version": m["cooc_version"],
        "format_version": m["format_version"],
    }


def _entry(index: Index, text: str) -> tuple[EntityCount | None, dict | None]:
    """A name's counts; a string that is not a name (or is a common word: "rock") as a phrase counted at
    document level by the evidence store, never as a name count (None without a store)."""
    e = index.entity(text)
    if e is not None and not (e.common and index.has_evidence):
        return e, asdict(e)
    if not index.has_evidence:
        return None, None
    phrase = {"phrase": text, "docs": index.phrase_docs([text]), "source": "phrase", "level": "document"}
    if e is not None:
        phrase["name"] = asdict(e)  # the common word's capitalized uses, as a name
    return None, phrase


def lookup(index: Index, first: str, second: str | None = None) -> dict:
    """Counts of one entity, or of two entities and their pair (phrases: see `_entry`)."""
    a, entry = _entry(index, first)
    out: dict = {"query": [first] + ([second] if second else []), "entities": [entry]}
    if second is not None:
        b, entry = _entry(index, second)
        out["entities"].append(entry)
        if a and b:
            out["pair"] = asdict(index.pair(a.id, b.id)) if a.id != b.id else None
            out["window"] = index.window
        elif all(out["entities"]):
            names = [t for t, e in ((first, a), (second, b)) if e is not None]
            phrases = [t for t, e in ((first, a), (second, b)) if e is None]
            out["pair"] = {"docs": index.store.count(names, phrases), "source": "phrase"}
            out["window"] = "doc"
        else:
            out["pair"], out["window"] = None, index.window
    return out
