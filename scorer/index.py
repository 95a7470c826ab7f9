"""Open an index read-only and answer entity and pair lookups in microseconds.

Lookups use the memory-mapped arrays the build wrote (an array index per entity, a
binary search per pair), not DuckDB: a DuckDB point query costs ~0.3-0.5 ms, and an
answer has several pairs. DuckDB stays available (`Index.sql`) for ad-hoc queries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cooc.indexer.match import Matcher
from cooc.indexer.normalize import normalize_key
from cooc.indexer.sketch import CountMinSketch, SketchShape
from cooc.indexer.spans import NUMBER_LABEL
from cooc.indexer.store import DUCKDB_FILE, SKETCH_FILE, VOCAB_FILE, data_dir, read_manifest
from cooc.indexer.vocab import Entity, Vocabulary


@dataclass(frozen=True)
class EntityCount:
    id: int
    key: str
    name: str
    label: str
    docs: int  # documents mentioning the entity (any alias)
    mentions: int


@dataclass(frozen=True)
class PairCount:
    """docs: documents where both entities occur within the index's window.

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


@dataclass(frozen=True)
class Mention:
    entity: EntityCount
    position: int  # token position in the normalized text
    length: int  # tokens covered


class Index:
    """A read-only view of an index directory."""

    def __init__(self, path: Path, manifest: dict, vocab: Vocabulary):
        self.path = path
        self.manifest = manifest
        self.vocab = vocab
        self._by_key = dict(vocab.entries())
        self._matcher = Matcher(vocab.entries())
        #: the vocabulary counts years and numbers (`--rules`), so a number in a text is a name to look up
        self.counts_numbers = any(e.label == NUMBER_LABEL for e in vocab.entities)
        self.data = data_dir(path, manifest)
        self._ent_docs = np.load(self.data / "entities.docs.npy", mmap_mode="r")
        self._ent_mentions = np.load(self.data / "entities.mentions.npy", mmap_mode="r")
        self._pair_keys = np.load(self.data / "pairs.keys.npy", mmap_mode="r")
        self._pair_docs = np.load(self.data / "pairs.docs.npy", mmap_mode="r")
        self._min_pair_docs = int(manifest["config"].get("min_pair_docs", 1))
        self._complete = self._min_pair_docs <= 1
        self._sketch = None
        self._inner: dict[str, int] | None = None  # built on first use by containing()
        self._keys: dict[int, list[str]] | None = None  # built on first use by keys_of()
        if "sketch" in manifest and (self.data / SKETCH_FILE).is_file():
            self._sketch = CountMinSketch.load(self.data / SKETCH_FILE, SketchShape.from_dict(manifest["sketch"]))

    @classmethod
    def open(cls, path: str | Path) -> Index:
        path = Path(path)
        manifest = read_manifest(path)
        return cls(path, manifest, Vocabulary.load(data_dir(path, manifest) / VOCAB_FILE))

    @property
    def documents(self) -> int:
        return int(self.manifest["corpus"]["documents"])

    @property
    def window(self) -> int | str:
        return self.manifest["config"]["window"]

    def entity_by_id(self, eid: int) -> EntityCount:
        e: Entity = self.vocab.entities[eid]
        return EntityCount(e.id, e.key, e.name, e.label, int(self._ent_docs[eid]), int(self._ent_mentions[eid]))

    def entity(self, text: str) -> EntityCount | None:
        """The entity a name or alias denotes (exact key first, else the first entity found in it)."""
        eid = self._by_key.get(normalize_key(text))
        if eid is None:
            found = self._matcher.match(text)
            if not found:
                return None
            eid = found[0][1]
        return self.entity_by_id(eid)

    def keys_of(self, eid: int) -> list[str]:
        """The normalized name and aliases of an entity: the forms a mention of it can take."""
        if self._keys is None:
            keys: dict[int, list[str]] = {}
            for key, i in self.vocab.entries():
                keys.setdefault(i, []).append(key)
            self._keys = keys
        return self._keys.get(eid, [])

    def containing(self, text: str) -> EntityCount | None:
        """The most documented entity whose name contains `text` as a run of two or more words.

        A rule-found vocabulary glues titles and modifiers to names ("Republican Erik Paulsen"):
        the corpus does mention "Erik Paulsen", inside that longer name, and its counts are a
        lower bound for the shorter one.
        """
        if self._inner is None:
            inner: dict[str, int] = {}
            docs = self._ent_docs
            for e in self.vocab.entities:
                words = e.key.split()
                for i in range(len(words)):
                    for j in range(i + 2, len(words) + 1):
                        if j - i < len(words):
                            k = " ".join(words[i:j])
                            if k not in inner or docs[e.id] > docs[inner[k]]:
                                inner[k] = e.id
            self._inner = inner
        eid = self._inner.get(normalize_key(text))
        return None if eid is None else self.entity_by_id(eid)

    def pair(self, a: int, b: int) -> PairCount:
        return self.pairs(np.array([a]), np.array([b]))[0]

    def find(self, text: str) -> list[Mention]:
        """Vocabulary entities in a text, in order, with the same matcher the build used."""
        return self.find_many([text])[0][0]

    def find_many(self, texts: list[str]) -> tuple[list[list[Mention]], list[int]]:
        """Mentions of many texts and their token counts, in one matcher call."""
        out: list[list[Mention]] = [[] for _ in texts]
        if not texts:
            return out, []
        m = self._matcher.match_batch(texts)
        for d, pos, eid, n in zip(m.doc.tolist(), m.pos.tolist(), m.eid.tolist(), m.length.tolist(), strict=True):
            out[d].append(Mention(self.entity_by_id(eid), pos, n))
        return out, m.ntokens.tolist()

    def pairs(self, a: np.ndarray, b: np.ndarray) -> list[PairCount]:
        """pair() for many (a, b) at once: one vectorized search of the sorted key array."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keys = (lo.astype(np.uint64) << np.uint64(32)) | hi.astype(np.uint64)
        n = self._pair_keys.shape[0]
        idx = np.minimum(np.searchsorted(self._pair_keys, keys), max(n - 1, 0))
        found = (self._pair_keys[idx] == keys) if n else np.zeros(keys.shape, bool)
        docs = np.where(found, self._pair_docs[idx] if n else 0, 0).astype(np.int64)
        if self._complete or self._sketch is None or found.all():
            return [PairCount(int(x), int(y), int(d), "exact") for x, y, d in zip(lo, hi, docs, strict=True)]
        est = np.minimum(self._sketch.query(keys), self._min_pair_docs - 1)
        sk = self.manifest["sketch"]
        return [
            PairCount(int(x), int(y), int(d), "exact") if f
            else PairCount(int(x), int(y), int(e), "sketch", sk["bound"], sk["false_positive_rate"])
            for x, y, d, e, f in zip(lo, hi, docs, est, found, strict=True)
        ]

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        """Run a read-only SQL query against index.duckdb (entities, aliases, pairs, meta)."""
        import duckdb

        con = duckdb.connect(str(self.data / DUCKDB_FILE), read_only=True)
        try:
            return con.execute(query, params or []).fetchall()
        finally:
            con.close()


def index_stats(path: str | Path) -> dict:
    """Headline numbers of an index, from its manifest and files (no counting)."""
    path = Path(path)
    m = read_manifest(path)
    voc = m["config"]["vocabulary"]
    return {
        "index": str(path),
        "documents": m["corpus"]["documents"],
        "tokens": m["corpus"]["tokens"],
        "text_bytes": m["corpus"]["bytes"],
        "skipped_records": m["corpus"]["skipped_total"],
        "skipped_by_reason": m["corpus"]["skipped"],
        "entities": m["counts"]["entities"],
        "entities_seen": m["counts"]["entities_seen"],
        "aliases": voc["aliases"],
        "pairs": m["counts"]["pairs"],
        "pairs_in_exact_table": m["counts"].get("pairs_kept", m["counts"]["pairs"]),
        "pairs_hll_estimate": m["counts"].get("pairs_hll_estimate"),
        "min_pair_docs": m["config"].get("min_pair_docs", 1),
        "duplicates_dropped": m["corpus"].get("duplicates_dropped", 0),
        "sketch": {k: m["sketch"][k] for k in ("depth", "width", "fill", "bound", "false_positive_rate")}
        if "sketch" in m else None,
        "window": m["config"]["window"],
        "vocabulary": {"ner": voc.get("ner"), "gazetteer": voc.get("gazetteer")},
        "input_files": len(m["inputs"]),
        "disk_bytes": sum(f.stat().st_size for f in data_dir(path, m).iterdir() if f.is_file()),
        "created": m["created"],
        "cooc_version": m["cooc_version"],
        "format_version": m["format_version"],
    }


def lookup(index: Index, first: str, second: str | None = None) -> dict:
    """Counts of one entity, or of two entities and their pair; None for a name the index does not know."""
    a = index.entity(first)
    out: dict = {"query": [first] + ([second] if second else []), "entities": [asdict(a) if a else None]}
    if second is not None:
        b = index.entity(second)
        out["entities"].append(asdict(b) if b else None)
        out["pair"] = asdict(index.pair(a.id, b.id)) if a and b and a.id != b.id else None
        out["window"] = index.window
    return out
