"""Exact document counts of entities and entity pairs from match output (numba).

A pair (a, b), a != b, is counted once for a document when some mention of a and
some mention of b start at most `window` tokens apart (window < 0: anywhere in the
document). Pairs are unordered and keyed `min(a, b) << 32 | max(a, b)`.

Pair counts live in an open-addressing hash table inside the kernel. Each slot
keeps its key, count and the last document that counted it in 16 bytes, so "a document adds at most 1" costs one
comparison instead of a per-document sort, and batches need no merge step: the
table is the running total. It doubles when half full.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .errors import CoocError
from .match import Mentions

#: Window value meaning "anywhere in the same document".
WINDOW_DOC = -1


def pair_key(a: int, b: int) -> int:
    lo, hi = (a, b) if a < b else (b, a)
    return (lo << 32) | hi


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = keys.astype(np.uint64, copy=False)
    return (keys >> np.uint64(32)).astype(np.int32), (keys & np.uint64(0xFFFFFFFF)).astype(np.int32)


@nb.njit(inline="always", cache=True)
def _slot(key, mask):
    h = key * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    return np.int64(h & mask)


@nb.njit(cache=True)
def _rehash(table, new_cap):
    out = np.zeros((new_cap, 2), dtype=np.uint64)
    mask = np.uint64(new_cap - 1)
    for i in range(table.shape[0]):
        key = table[i, 0]
        if key != np.uint64(0):
            s = _slot(key, mask)
            while out[s, 0] != np.uint64(0):
                s = (s + 1) & np.int64(mask)
            out[s, 0] = key
            out[s, 1] = table[i, 1]
    return out


@nb.njit(cache=True)
def _count_batch(doc, pos, eid, doc_base, window, ent_docs, ent_mentions, table, size):
    """Update entity counters and the pair table; returns the (possibly grown) table and its size.

    table[s] = (key, count << 32 | last document + 1): key and count share a cache line, so an
    emission costs one memory access. Counts and document numbers of a shard stay below 2**32.
    """
    n_ent = ent_docs.shape[0]
    last_doc = np.full(n_ent, -1, dtype=np.int64)
    last_pos = np.zeros(n_ent, dtype=np.int64)
    in_active = np.zeros(n_ent, dtype=np.bool_)
    active = np.empty(n_ent, dtype=np.int32)
    mask = np.uint64(table.shape[0] - 1)
    low = np.uint64(0xFFFFFFFF)
    m = 0
    n_m = doc.shape[0]
    while m < n_m:
        d = doc[m]
        stamp = np.uint64(doc_base + d + 1)
        end = m
        while end < n_m and doc[end] == d:
            end += 1
        n_active = 0
        for j in range(m, end):
            b = eid[j]
            p = np.int64(pos[j])
            ent_mentions[b] += 1
            if last_doc[b] != d:
                last_doc[b] = d
                ent_docs[b] += 1
            # pair b with every distinct entity whose last mention is inside the window
            k = 0
            while k < n_active:
                a = active[k]
                if window >= 0 and last_pos[a] < p - window:
                    in_active[a] = False
                    n_active -= 1
                    active[k] = active[n_active]
                    continue
                k += 1
                if a == b:
                    continue
                key = (np.uint64(min(a, b)) << np.uint64(32)) | np.uint64(max(a, b))
                s = _slot(key, mask)
                while table[s, 0] != np.uint64(0) and table[s, 0] != key:
                    s = (s + 1) & np.int64(mask)
                if table[s, 0] == key:
                    v = table[s, 1]
                    if (v & low) != stamp:  # a document adds at most 1
                        table[s, 1] = ((v >> np.uint64(32)) + np.uint64(1)) << np.uint64(32) | stamp
                    continue
                table[s, 0] = key
                table[s, 1] = (np.uint64(1) << np.uint64(32)) | stamp
                size += 1
                if 2 * size > table.shape[0]:
                    table = _rehash(table, 2 * table.shape[0])
                    mask = np.uint64(table.shape[0] - 1)
            last_pos[b] = p
            if not in_active[b]:
                in_active[b] = True
                active[n_active] = b
                n_active += 1
        for k in range(n_active):
            in_active[active[k]] = False
        m = end
    return table, size


class Counter:
    """Exact entity and pair document counts accumulated batch by batch."""

    def __init__(self, n_entities: int, window: int, initial_capacity: int = 1 << 16):
        self.window = int(window)
        self.entity_docs = np.zeros(n_entities, dtype=np.int64)
        self.entity_mentions = np.zeros(n_entities, dtype=np.int64)
        self.documents = 0
        self.tokens = 0
        cap = 1 << max(4, (initial_capacity - 1).bit_length())
        self._table = np.zeros((cap, 2), dtype=np.uint64)
        self._size = 0

    def add(self, mentions: Mentions) -> None:
        """Count one batch (document indexes in `mentions` are local to the batch)."""
        if self.documents + mentions.ntokens.shape[0] >= 2**32 - 1:
            raise CoocError("a shard holds at most 2**32 - 2 documents; split the input file into smaller shards")
        self._table, self._size = _count_batch(
            mentions.doc, mentions.pos, mentions.eid, self.documents, self.window, self.entity_docs,
            self.entity_mentions, self._table, self._size,
        )
        self.documents += int(mentions.ntokens.shape[0])
        self.tokens += int(mentions.ntokens.sum())

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted uint64 keys, int64 document counts)."""
        used = self._table[:, 0] != 0
        keys = self._table[used, 0]
        counts = (self._table[used, 1] >> np.uint64(32)).astype(np.int64)
        order = np.argsort(keys)
        return keys[order], counts[order]
