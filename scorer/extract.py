"""Query-side entity finding: vocabulary matches plus names the index has never seen.

A hallucinated answer often names something the corpus never mentions at all; the
vocabulary cannot contain it, so cheap rules catch such names: a run of
capitalized words (numbers allowed inside, e.g. "7th Avenue", "Super Bowl 50")
that the vocabulary does not cover completely is an unseen name. A vocabulary
entity found only inside such a run ("Richard" in "Richard Bedford") is part of
the unknown name, not a mention of its own, and is dropped. No NER model is
loaded at query time, and a batch of texts costs two matcher calls in all.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from cooc.indexer.normalize import normalize_key

from .index import EntityCount, Index

_CAP = r"[A-Z\u00C0-\u00DE][\w'\u2019.&-]*"
_NUM = r"\d[\w.-]*"
_ORDINAL = r"\d+(?:st|nd|rd|th)"
_JOIN = r"(?:of|the|de|del|da|di|von|van|der|den|la|le|for|on|upon|&)"
_CAP_SPAN = re.compile(rf"(?:{_ORDINAL}\s+)?{_CAP}(?:\s+(?:{_JOIN}\s+|{_NUM}\s+)*{_CAP})*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]['\"]?\s*)$")


@dataclass(frozen=True)
class Found:
    """Entities of one text: known (with counts) and unseen names (not in the vocabulary)."""

    known: list[EntityCount]  # unique, in order of first mention
    unseen: list[str]  # surface forms


@cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS  # imported on first use: `import spacy` costs ~0.6 s

    return frozenset(STOP_WORDS)


def _trim(words: list[str]) -> list[str]:
    stop = _stop_words()
    while words and words[0].lower().strip(".'") in stop:
        words = words[1:]
    while words and words[-1].lower().strip(".'") in stop:
        words = words[:-1]
    return words


def candidate_spans(text: str, skip_sentence_initial: bool) -> list[str]:
    """Capitalized runs that may name an entity, stop words trimmed, in order, unique."""
    spans: list[str] = []
    for m in _CAP_SPAN.finditer(text):
        words = _trim(m.group(0).split())
        if not words:
            continue
        if len(words) == 1 and skip_sentence_initial and _SENTENCE_START.search(text[: m.start()]):
            continue
        span = " ".join(words).rstrip(".,")
        if normalize_key(span) and span not in spans:
            spans.append(span)
    return spans


def find_entities_many(index: Index, texts: Sequence[str | None], skip_sentence_initial: Sequence[bool]) -> list[Found]:
    """skip_sentence_initial (per text): a lone capitalized word opening a sentence is not taken as
    a name (questions: "Musician and ..."); answers pass False, where it is often the answer itself."""
    mentions, _ = index.find_many([t or "" for t in texts])
    spans = [candidate_spans(t, skip) if t else [] for t, skip in zip(texts, skip_sentence_initial, strict=True)]
    flat = [s for row in spans for s in row]
    span_mentions, span_tokens = index.find_many(flat)
    out: list[Found] = []
    k = 0
    for row_mentions, row_spans in zip(mentions, spans, strict=True):
        total = Counter(m.entity.id for m in row_mentions)
        swallowed: Counter = Counter()
        unseen: list[str] = []
        for span in row_spans:
            inside = span_mentions[k]
            if sum(m.length for m in inside) < span_tokens[k]:  # not fully covered by known entities
                swallowed.update(m.entity.id for m in inside)
                unseen.append(span)
            k += 1
        known: dict[int, EntityCount] = {}
        for m in row_mentions:
            if swallowed[m.entity.id] < total[m.entity.id]:
                known.setdefault(m.entity.id, m.entity)
        out.append(Found(list(known.values()), unseen))
    return out


def find_entities(index: Index, text: str | None, skip_sentence_initial: bool = True) -> Found:
    return find_entities_many(index, [text], [skip_sentence_initial])[0]
