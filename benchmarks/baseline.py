"""Pure-Python reference: the same matching and counting with dicts and sets.

It defines what the numba kernels must equal (tests compare them) and the
baseline the build benchmark reports its speed-up against.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from cooc.indexer.count import WINDOW_DOC
from cooc.indexer.normalize import normalize_text

_TOKEN = re.compile(r"[A-Za-z0-9\x80-\U0010ffff]+|[^\x00-\x20\x7f]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalize_text(text))


class PythonMatcher:
    def __init__(self, entries: Iterable[tuple[str, int]]):
        self.table: dict[tuple[str, ...], int] = {}
        self.prefixes: set[tuple[str, ...]] = set()
        for key, eid in entries:
            toks = tuple(tokens(key))
            if not toks:
                continue
            self.table.setdefault(toks, eid)
            for n in range(1, len(toks)):
                self.prefixes.add(toks[:n])
        self.longest = max((len(k) for k in self.table), default=1)

    def match(self, text: str) -> tuple[list[tuple[int, int]], int]:
        toks = tokens(text)
        out, i = [], 0
        while i < len(toks):
            best = None
            for n in range(1, min(self.longest, len(toks) - i) + 1):
                gram = tuple(toks[i : i + n])
                if gram in self.table:
                    best = (n, self.table[gram])
                if gram not in self.prefixes:
                    break
            if best:
                out.append((i, best[1]))
                i += best[0]
            else:
                i += 1
        return out, len(toks)


def count(matcher: PythonMatcher, texts: Iterable[str], window: int):
    ent_docs: dict[int, int] = defaultdict(int)
    pair_docs: dict[tuple[int, int], int] = defaultdict(int)
    for text in texts:
        mentions, _ = matcher.match(text)
        for e in {e for _, e in mentions}:
            ent_docs[e] += 1
        seen = set()
        for i, (p1, a) in enumerate(mentions):
            for p2, b in mentions[i + 1 :]:
                if window != WINDOW_DOC and p2 - p1 > window:
                    break
                if a != b:
                    seen.add((min(a, b), max(a, b)))
        for pair in seen:
            pair_docs[pair] += 1
    return dict(ent_docs), dict(pair_docs)
