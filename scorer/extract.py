"""Query-side name finding: the build's own rule, plus the text's word n-grams looked up by hash.

The kernel that found the corpus's names (`cooc.indexer.names`) finds the names a question or
answer writes, so query keys equal index keys by construction. Each text's word n-grams (up to
the longest name the index holds) are also looked up in the name table, so lowercase text
finds names too ("who founded microsoft", "bill gates"). The longest known match wins; an
n-gram may cover whole rule names ("Infinity on High" over "Infinity" and "High") but never
cut one ("Dorothy Howard" is one unknown name, not the known "Dorothy" and "Howard"). A rule
name the corpus never writes is reported as unseen, except a common word (a one-word name
the corpus mostly writes in lowercase: "Helicopter"). No model is loaded at query time, and
a batch of texts costs two kernel calls and one vectorized lookup in all.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from cooc.indexer.names import find_batch, ngrams
from cooc.indexer.spans import prepare

from .index import EntityCount, Index

#: n-grams longer than this are not looked up (names of more words are found by the rule)
MAX_NGRAM = 8


#: [start, end) character offsets in the text as given, one per mention
Spans = list[tuple[int, int]]


@dataclass(frozen=True)
class Found:
    """Names of one text: known (with counts) and unseen (the corpus never writes them), and where
    the text writes each (parallel lists; a name's key, so "Beatles" of "the Beatles")."""

    known: list[EntityCount]  # unique, in order of first mention
    unseen: list[str]  # surface forms
    known_spans: list[Spans] = field(default_factory=list)
    unseen_spans: list[Spans] = field(default_factory=list)


class _Candidate(NamedTuple):  # a tuple: made for every n-gram that is a name, so cheap to make
    first: int
    last: int
    eid: int
    rule: bool
    start: int  # key bytes in the packed buffer
    end: int


class _Chars:
    """Byte offsets of one packed (NFKC-prepared) text -> character offsets of the text as given.

    Where NFKC changed the text, each character is mapped by its own normalized length: exact except
    inside a sequence that NFKC composes across characters (a letter and a combining mark), off by
    at most that sequence. Nothing is computed for an ASCII text (bytes are characters), and the rest
    only when asked: a text costs ~1 us more per name, not per character."""

    def __init__(self, text: str, buf: np.ndarray, lo: int, hi: int):
        self.text, self.buf, self.lo, self.hi = text, buf, lo, hi
        self.ascii = text.isascii()
        self.packed: bytes | None = None
        self.nfkc: np.ndarray | None = None

    def __call__(self, byte: int) -> int:
        if self.ascii:
            return byte - self.lo
        if self.packed is None:
            self.packed = self.buf[self.lo : self.hi].tobytes()
            if prepare(self.text) != self.text:
                self.nfkc = np.cumsum([0] + [len(unicodedata.normalize("NFKC", c)) for c in self.text])
        c = len(self.packed[: byte - self.lo].decode("utf-8", "surrogatepass"))
        if self.nfkc is not None:
            c = int(np.searchsorted(self.nfkc, c))
        return min(c, len(self.text))


def _select(rule: list[tuple[int, int, int, int, int]], grams: list[tuple[int, int, int, int, int]]
            ) -> tuple[list[_Candidate], set[int]]:
    """Known matches (longest first, no overlaps), and the indexes of rule names they cover.
    Rows: (first token, last token, id or -1, key start byte, key end byte)."""
    spans = [(first, last) for first, last, *_ in rule]
    cands = [_Candidate(first, last, e, True, a, b) for first, last, e, a, b in rule if e >= 0]
    for first, last, e, a, b in grams:
        if all(last < sf or first > sl or (first <= sf and sl <= last) for sf, sl in spans):  # never cut a rule name
            cands.append(_Candidate(first, last, e, False, a, b))
    cands.sort(key=lambda c: (-(c.last - c.first), not c.rule, c.first))
    taken: list[_Candidate] = []
    for c in cands:
        if all(c.last < t.first or c.first > t.last for t in taken):
            taken.append(c)
    covered = {i for i, (sf, sl) in enumerate(spans) if any(t.first <= sf and sl <= t.last for t in taken)}
    return sorted(taken, key=lambda c: c.first), covered


def _is_cased(text: str) -> bool:
    """A text that capitalizes some word after its first: its lowercase words are ordinary words."""
    return any(ch.isupper() for ch in text[1:])


def find_entities_many(index: Index, texts: Sequence[str | None], skip_sentence_initial: Sequence[bool]) -> list[Found]:
    """skip_sentence_initial (per text): a lone capitalized word opening a sentence is not taken as
    a name (questions: "Musician and ..."); answers pass False, where it is often the answer itself."""
    texts = [t or "" for t in texts]
    found = find_batch(texts, list(skip_sentence_initial), inner=True)
    rows, gram_hash = ngrams(texts, min(MAX_NGRAM, max(1, index.max_tokens)), (found.buf, found.offsets))
    rule_ids = index.ids(found.hash)
    rule_common = index.is_common(rule_ids)
    gram_ids = index.ids(gram_hash)
    cased = np.array([_is_cased(t) for t in texts], dtype=bool)
    keep = (gram_ids >= 0) & ~index.is_common(gram_ids)
    if rows.size:
        keep &= (rows[:, 3] >= 2) | ~cased[rows[:, 0]]  # one lowercase word is a name only in lowercase text
    rows, gram_ids = rows[keep], gram_ids[keep]
    every_name = index.counts_every_name  # an index of a fixed list knows nothing of names off the list
    by_doc_rule = np.searchsorted(found.doc, np.arange(len(texts) + 1)).tolist()
    by_doc_gram = (np.searchsorted(rows[:, 0], np.arange(len(texts) + 1)) if rows.size
                   else np.zeros(len(texts) + 1, int)).tolist()
    # rows of _select, as Python ints once per batch (not a numpy scalar per field per mention)
    rule_rows = np.column_stack([found.first, found.first + found.length - 1, np.where(rule_common, -1, rule_ids),
                                 found.start, found.end]).tolist()
    gram_rows = np.column_stack([rows[:, 1], rows[:, 1] + rows[:, 2] - 1, gram_ids, rows[:, 4], rows[:, 5]]).tolist()
    unknown = (rule_ids < 0).tolist()
    offsets = found.offsets.tolist()
    out: list[Found] = []
    for d in range(len(texts)):
        r0, r1 = by_doc_rule[d], by_doc_rule[d + 1]
        rule = rule_rows[r0:r1]
        taken, covered = _select(rule, gram_rows[by_doc_gram[d] : by_doc_gram[d + 1]])
        chars = _Chars(texts[d], found.buf, offsets[d], offsets[d + 1])
        known: dict[int, Spans] = {}
        for c in taken:
            known.setdefault(c.eid, []).append((chars(c.start), chars(c.end)))
        unseen: dict[str, Spans] = {}
        for k in range(r1 - r0):
            if every_name and unknown[r0 + k] and k not in covered:
                unseen.setdefault(found.name(r0 + k), []).append((chars(rule[k][3]), chars(rule[k][4])))
        out.append(Found([index.entity_by_id(e) for e in known], list(unseen), list(known.values()),
                         list(unseen.values())))
    return out


def find_entities(index: Index, text: str | None, skip_sentence_initial: bool = True) -> Found:
    return find_entities_many(index, [text], [skip_sentence_initial])[0]
