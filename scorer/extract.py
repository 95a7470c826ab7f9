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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cooc.indexer.names import find_batch, ngrams

from .index import EntityCount, Index

#: n-grams longer than this are not looked up (names of more words are found by the rule)
MAX_NGRAM = 8


@dataclass(frozen=True)
class Found:
    """Names of one text: known (with counts) and unseen (the corpus never writes them)."""

    known: list[EntityCount]  # unique, in order of first mention
    unseen: list[str]  # surface forms


@dataclass(frozen=True)
class _Candidate:
    first: int
    last: int
    eid: int
    rule: bool


def _select(rule: list[tuple[int, int, int]], grams: list[tuple[int, int, int]]) -> tuple[list[_Candidate], set[int]]:
    """Known matches (longest first, no overlaps), and the indexes of rule names they cover."""
    spans = [(first, last) for first, last, _ in rule]
    cands = [_Candidate(first, last, e, True) for first, last, e in rule if e >= 0]
    for first, last, e in grams:
        if all(last < sf or first > sl or (first <= sf and sl <= last) for sf, sl in spans):  # never cut a rule name
            cands.append(_Candidate(first, last, e, False))
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
    by_doc_rule = np.searchsorted(found.doc, np.arange(len(texts) + 1))
    by_doc_gram = np.searchsorted(rows[:, 0], np.arange(len(texts) + 1)) if rows.size else np.zeros(len(texts) + 1, int)
    out: list[Found] = []
    for d in range(len(texts)):
        r0, r1 = by_doc_rule[d], by_doc_rule[d + 1]
        rule = [(int(found.first[i]), int(found.first[i] + found.length[i] - 1),
                 -1 if rule_common[i] else int(rule_ids[i])) for i in range(r0, r1)]
        g0, g1 = by_doc_gram[d], by_doc_gram[d + 1]
        grams = [(int(rows[i, 1]), int(rows[i, 1] + rows[i, 2] - 1), int(gram_ids[i])) for i in range(g0, g1)]
        taken, covered = _select(rule, grams)
        known: dict[int, EntityCount] = {}
        for c in taken:
            known.setdefault(c.eid, index.entity_by_id(c.eid))
        unseen = []
        for k, i in enumerate(range(r0, r1)):
            if every_name and rule_ids[i] < 0 and k not in covered:
                name = found.name(i)
                if name not in unseen:
                    unseen.append(name)
        out.append(Found(list(known.values()), unseen))
    return out


def find_entities(index: Index, text: str | None, skip_sentence_initial: bool = True) -> Found:
    return find_entities_many(index, [text], [skip_sentence_initial])[0]
