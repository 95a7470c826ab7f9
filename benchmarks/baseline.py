"""Pure-Python reference: the name rule of `cooc.indexer.spans` and counting with dicts and sets.

It defines what the numba build must equal (tests compare an index with it) and the baseline
the build benchmark reports its speed-up against.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

from cooc.indexer.count import WINDOW_DOC
from cooc.indexer.spans import KIND_INNER, mentions


def count(texts: Iterable[str], window: int, inner: bool = True) -> tuple[dict[int, int], dict[int, int],
                                                                          dict[tuple[int, int], int]]:
    """(documents per name hash, mentions per name hash, documents per unordered pair of name hashes)."""
    docs: dict[int, int] = defaultdict(int)
    ments: dict[int, int] = defaultdict(int)
    pairs: dict[tuple[int, int], int] = defaultdict(int)
    for text in texts:
        every = mentions(text, True, inner)
        for _pos, _n, h, _kind in every:
            ments[h] += 1
        for h in {m[2] for m in every}:
            docs[h] += 1
        found = [(pos, h) for pos, _n, h, kind in every if kind != KIND_INNER]  # inner names do not pair
        for pair in _pairs(found, window):
            pairs[pair] += 1
    return dict(docs), dict(ments), dict(pairs)


def _pairs(found: list[tuple[int, int]], window: int) -> set[tuple[int, int]]:
    """The unordered pairs of distinct names of one document whose mentions start at most `window` apart."""
    if window == WINDOW_DOC:  # every two distinct names of the document
        return set(combinations(sorted({h for _, h in found}), 2))
    seen = set()
    for i, (p1, a) in enumerate(found):
        for p2, b in found[i + 1 :]:
            if p2 - p1 > window:
                break
            if a != b:
                seen.add((min(a, b), max(a, b)))
    return seen
