"""Exact document counts of entities and entity pairs from match output (numba).

A pair (a, b), a != b, is counted once for a document when some mention of a and
some mention of b start at most `window` tokens apart (window < 0: anywhere in the
document). Pairs are unordered and keyed `min(a, b) << 32 | max(a, b)`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .match import Mentions

#: Window value meaning "anywhere in the same document".
WINDOW_DOC = -1


def pair_key(a: int, b: int) -> int:
    lo, hi = (a, b) if a < b else (b, a)
    return (lo << 32) | hi


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = keys.astype(np.uint64, copy=False)
    return (keys >> np.uint64(32)).astype(np.int32), (keys & np.uint64(0xFFFFFFFF)).astype(np.int32)


@nb.njit(cache=True)
def _count_batch(doc, pos, eid, n_docs, window, ent_docs, ent_mentions):
    """Update entity counters in place; return the unique pair keys of each document, concatenated."""
    n_ent = ent_docs.shape[0]
    last_doc = np.full(n_ent, -1, dtype=np.int64)
    last_pos = np.zeros(n_ent, dtype=np.int64)
    in_active = np.zeros(n_ent, dtype=np.bool_)
    active = np.empty(n_ent, dtype=np.int32)
    out = np.empty(max(16, doc.shape[0]), dtype=np.uint64)
    n_out = 0
    scratch = np.empty(16, dtype=np.uint64)
    m = 0
    n_m = doc.shape[0]
    while m < n_m:
        d = doc[m]
        end = m
        while end < n_m and doc[end] == d:
            end += 1
        n_active = 0
        n_s = 0
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
                if a != b:
                    if n_s == scratch.shape[0]:
                        bigger = np.empty(2 * n_s, dtype=np.uint64)
                        bigger[:n_s] = scratch[:n_s]
                        scratch = bigger
                    lo = min(a, b)
                    hi = max(a, b)
                    scratch[n_s] = (np.uint64(lo) << np.uint64(32)) | np.uint64(hi)
                    n_s += 1
                k += 1
            last_pos[b] = p
            if not in_active[b]:
                in_active[b] = True
                active[n_active] = b
                n_active += 1
        for k in range(n_active):
            in_active[active[k]] = False
        if n_s > 0:
            uniq = np.unique(scratch[:n_s])
            need = n_out + uniq.shape[0]
            if need > out.shape[0]:
                bigger = np.empty(max(need, 2 * out.shape[0]), dtype=np.uint64)
                bigger[:n_out] = out[:n_out]
                out = bigger
            out[n_out:need] = uniq
            n_out = need
        m = end
    return out[:n_out].copy()


def reduce_counts(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum counts of equal keys; returns keys sorted ascending."""
    if keys.size == 0:
        return keys.astype(np.uint64), counts.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    c = counts[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    return k[starts], np.add.reduceat(c, starts).astype(np.int64)


class Counter:
    """Exact entity and pair document counts accumulated batch by batch."""

    def __init__(self, n_entities: int, window: int, compact_every: int = 32):
        self.window = int(window)
        self.entity_docs = np.zeros(n_entities, dtype=np.int64)
        self.entity_mentions = np.zeros(n_entities, dtype=np.int64)
        self.documents = 0
        self.tokens = 0
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self._compact_every = compact_every

    def add(self, mentions: Mentions) -> np.ndarray:
        """Count one batch; returns its per-document-unique pair keys (for a sketch)."""
        n_docs = mentions.ntokens.shape[0]
        keys = _count_batch(
            mentions.doc, mentions.pos, mentions.eid, n_docs, self.window, self.entity_docs, self.entity_mentions
        )
        self.documents += n_docs
        self.tokens += int(mentions.ntokens.sum())
        if keys.size:
            k, c = np.unique(keys, return_counts=True)
            self._chunks.append((k, c.astype(np.int64)))
            if len(self._chunks) >= self._compact_every:
                self._compact()
        return keys

    def _compact(self) -> None:
        if len(self._chunks) > 1:
            k = np.concatenate([c[0] for c in self._chunks])
            c = np.concatenate([c[1] for c in self._chunks])
            self._chunks = [reduce_counts(k, c)]

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted uint64 keys, int64 document counts)."""
        self._compact()
        if not self._chunks:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        return self._chunks[0]
