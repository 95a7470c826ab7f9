"""Query-side entity finding: vocabulary matches plus names the index has never seen.

A hallucinated answer often names something the corpus never mentions at all; the
vocabulary cannot contain it, so the capitalized-span rule (indexer/spans.py) catches
such names: a span that is not exactly one vocabulary entity is an unseen name. Vocabulary
entities found only inside such a run ("Dorothy" and "Howard" in "Dorothy Howard") are part
of the unknown name, not mentions of their own, and are dropped. A run that is part of a
longer vocabulary name the text mentions ("Infinity" and "High" in the title Infinity on
High) is no name of its own, and neither is a word the vocabulary left out as a common word
("Helicopter": the corpus uses it, mostly in lowercase). No NER model is
loaded at query time, and a batch of texts costs two matcher calls in all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cooc.indexer.normalize import normalize_key
from cooc.indexer.spans import candidate_spans

from .index import EntityCount, Index


@dataclass(frozen=True)
class Found:
    """Entities of one text: known (with counts) and unseen names (not in the vocabulary)."""

    known: list[EntityCount]  # unique, in order of first mention
    unseen: list[str]  # surface forms


def find_entities_many(index: Index, texts: Sequence[str | None], skip_sentence_initial: Sequence[bool]) -> list[Found]:
    """skip_sentence_initial (per text): a lone capitalized word opening a sentence is not taken as
    a name (questions: "Musician and ..."); answers pass False, where it is often the answer itself."""
    mentions, _ = index.find_many([t or "" for t in texts])
    spans = [candidate_spans(t, skip, index.counts_numbers) if t else [] for t, skip in zip(texts, skip_sentence_initial, strict=True)]
    flat = [s for row in spans for s in row]
    span_mentions, span_tokens = index.find_many(flat)
    out: list[Found] = []
    common = index.vocab.common_words
    k = 0
    for row_mentions, row_spans in zip(mentions, spans, strict=True):
        total = Counter(m.entity.id for m in row_mentions)
        swallowed: Counter = Counter()
        unseen: list[str] = []
        partial: list[EntityCount] = []  # names known only inside a longer vocabulary name
        longer = [f" {key} " for m in row_mentions if m.length >= 2 for key in index.keys_of(m.entity.id)]
        for span in row_spans:
            inside, n_tokens = span_mentions[k], span_tokens[k]
            k += 1
            if len(inside) == 1 and inside[0].length == n_tokens:
                continue  # exactly one known name
            key = normalize_key(span)
            if any(f" {key} " in name for name in longer):
                continue  # a piece of a known name this text mentions
            if key in common:
                continue  # a common word the corpus uses, not an unseen name ("Helicopter")
            swallowed.update(m.entity.id for m in inside)
            outer = index.containing(span) if n_tokens >= 2 else None
            if outer is None:
                unseen.append(span)
            else:
                partial.append(outer)
        known: dict[int, EntityCount] = {}
        for m in row_mentions:
            if swallowed[m.entity.id] < total[m.entity.id]:
                known.setdefault(m.entity.id, m.entity)
        for e in partial:
            known.setdefault(e.id, e)
        out.append(Found(list(known.values()), unseen))
    return out


def find_entities(index: Index, text: str | None, skip_sentence_initial: bool = True) -> Found:
    return find_entities_many(index, [text], [skip_sentence_initial])[0]
