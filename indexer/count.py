"""Count names and pairs of names while finding them: one numba pass per batch of documents.

Per document the kernel finds the mentions (`names.doc_mentions`), then updates three
open-addressing tables that are the running totals of a shard:

- **names**: 64-bit name hash -> a local row with documents, mentions, the kinds it was found
  as (name, title, number, inner, gazetteer), its token count and where it first occurred (so
  Python reads its surface form once per shard, not once per mention);
- **pairs**: two local rows (`min << 32 | max`) -> documents in which their mentions start at
  most `window` tokens apart (window < 0: anywhere in the document); each slot keeps the last
  document that counted it, so "a document adds at most 1" is one comparison. Pair updates are
  queued and applied per batch in table order (`_flush_pairs`): one random access into a table
  far larger than the cache per pair was the larger part of counting. A name inside a
  longer one (an inner name: "Paris" of "Treaty of Paris") counts for its documents and mentions
  but pairs only where it is written on its own: the longer name is the one that co-occurs
  (measured: HaluEval dev AUROC 0.728 -> 0.733, half the pairs);
- **lowercase uses** of every word ("film" in "a film by"), which decide at merge time whether a
  one-word name is a common word.

Memory is bounded: when the tables pass half of `memory_mb` (their next doubling would pass it),
`ShardCounter` hands them out as a *run* (hash-keyed arrays) and starts afresh; the runs of a
shard simply sum at merge time. The pair queue is fixed: 1/32 of the budget, at most 16 MiB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np
import pyarrow as pa

from . import names as nm

#: Window value meaning "anywhere in the same document".
WINDOW_DOC = -1

# Columns of the per-name rows.
E_DOCS, E_MENTIONS, E_LAST_DOC, E_ACTIVE, E_KINDS, E_NTOK, E_FDOC, E_FSTART, E_FEND = range(9)
_E_COLS = 9
# sizes[]: names, lowercase words, pairs, hash collisions, tokens, queued pair updates
Z_NAMES, Z_LOWER, Z_PAIRS, Z_COLLISIONS, Z_TOKENS, Z_QUEUED = range(6)


def pair_key(a: int, b: int) -> int:
    lo, hi = (a, b) if a < b else (b, a)
    return (lo << 32) | hi


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = keys.astype(np.uint64, copy=False)
    return (keys >> np.uint64(32)).astype(np.int32), (keys & np.uint64(0xFFFFFFFF)).astype(np.int32)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@nb.njit(inline="always", cache=True)
def _slot(key, mask):
    """Home slot of a key in a table of mask + 1 slots: the top bits of a multiplicative hash, so slot order
    is hash order at every size and a doubling rehash, walking the old table in order, writes the new one
    nearly sequentially (it was a random scatter, the larger part of a growing table's cost)."""
    h = key * _GOLDEN
    return np.int64(((h >> np.uint64(32)) * (mask + np.uint64(1))) >> np.uint64(32))


@nb.njit(cache=True)
def _rehash2(table, new_cap):
    """Rehash a (key, value) table; key 0 is empty."""
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


@nb.njit(inline="always", cache=True)
def _find_name(names_t, h1):
    """(row, slot) of a name hash: row -1 when absent, slot then where it goes. Inlined (a call per mention
    that passes and returns arrays costs more than the probe)."""
    mask = np.uint64(names_t.shape[0] - 1)
    s = _slot(h1, mask)
    while names_t[s, 0] != np.uint64(0):
        if names_t[s, 0] == h1:
            return np.int64(names_t[s, 1]), s
        s = (s + 1) & np.int64(mask)
    return np.int64(-1), s


@nb.njit(cache=True)
def _new_name(names_t, rows, hashes, sizes, s, h1, h2, ntok, d, bstart, bend):
    """Add a name at free slot s of names_t. Returns (row, tables possibly grown)."""
    r = sizes[Z_NAMES]
    if r == rows.shape[0]:
        grown = np.zeros((2 * rows.shape[0], _E_COLS), dtype=np.int64)
        grown[:r] = rows[:r]
        rows = grown
        gh = np.zeros((2 * hashes.shape[0], 2), dtype=np.uint64)
        gh[:r] = hashes[:r]
        hashes = gh
    names_t[s, 0] = h1
    names_t[s, 1] = np.uint64(r)
    hashes[r, 0] = h1
    hashes[r, 1] = h2
    rows[r, E_LAST_DOC] = -1
    rows[r, E_NTOK] = ntok
    rows[r, E_FDOC] = d
    rows[r, E_FSTART] = bstart
    rows[r, E_FEND] = bend
    sizes[Z_NAMES] = r + 1
    if 2 * (r + 1) > names_t.shape[0]:
        names_t = _rehash2(names_t, 2 * names_t.shape[0])
    return r, names_t, rows, hashes


@nb.njit(cache=True)
def _count_lower(tok, th, nt, lower_t, sizes, rt_stop):
    """Lowercase uses of each word (as a one-word name's hash); stop words are never names, so skipped."""
    for k in range(nt):
        if (tok[k, nm.T_FLAGS] & nm.F_LOWER) == 0 or tok[k, nm.T_PUNCT] != 0 or nm._in(rt_stop, th[k]):
            continue
        h = nm._step(nm.SEQ_SEED, th[k], nm.SEQ_MUL)
        mask = np.uint64(lower_t.shape[0] - 1)
        s = _slot(h, mask)
        while lower_t[s, 0] != np.uint64(0) and lower_t[s, 0] != h:
            s = (s + 1) & np.int64(mask)
        if lower_t[s, 0] == h:
            lower_t[s, 1] += np.uint64(1)
            continue
        lower_t[s, 0] = h
        lower_t[s, 1] = np.uint64(1)
        sizes[Z_LOWER] += 1
        if 2 * sizes[Z_LOWER] > lower_t.shape[0]:
            lower_t = _rehash2(lower_t, 2 * lower_t.shape[0])
    return lower_t


@nb.njit(inline="always", cache=True)
def _pair_slot(pairs_t, key):
    """The slot holding `key`, else the empty slot where it goes. Inlined (a call per pair that passes and
    returns arrays costs more than the probe)."""
    mask = np.uint64(pairs_t.shape[0] - 1)
    s = _slot(key, mask)
    while pairs_t[s, 0] != np.uint64(0) and pairs_t[s, 0] != key:
        s = (s + 1) & np.int64(mask)
    return s


@nb.njit(inline="always", cache=True)
def _count_at(pairs_t, s, key, stamp):
    """Count document `stamp` for the pair at slot s (a document adds at most 1), adding the pair when the
    slot is empty; True when it was new."""
    if pairs_t[s, 0] == key:
        v = pairs_t[s, 1]
        if (v & np.uint64(0xFFFFFFFF)) != stamp:
            pairs_t[s, 1] = ((v >> np.uint64(32)) + np.uint64(1)) << np.uint64(32) | stamp
        return False
    pairs_t[s, 0] = key
    pairs_t[s, 1] = (np.uint64(1) << np.uint64(32)) | stamp
    return True


_BUCKET_BITS = 12  # queued pair updates are applied in 4,096 runs, each within 1/4,096 of the table


@nb.njit(inline="always", cache=True)
def _queue_pair(queue, sizes, key, stamp):
    """Queue a pair update of document `stamp`; True when the queue is full (the caller flushes it)."""
    i = sizes[Z_QUEUED]
    queue[i, 0] = key
    queue[i, 1] = stamp
    sizes[Z_QUEUED] = i + 1
    return i + 1 == queue.shape[0]


@nb.njit(cache=True)
def _flush_pairs(queue, spare, pairs_t, sizes):
    """Apply the queued pair updates in table order rather than one random access each.

    A stable counting sort by the top bits of the slot hash (one document's updates of a pair stay in
    order, so its stamp still dedups them); then updates of the pairs already in the table, walking it
    forward; then the new pairs, after growing the table once to hold them all (inserted in hash order into
    a table that grows meanwhile, they would pile up in its first slots). Returns the table."""
    n = sizes[Z_QUEUED]
    sizes[Z_QUEUED] = 0
    start = np.zeros((1 << _BUCKET_BITS) + 1, dtype=np.int64)
    shift = np.uint64(64 - _BUCKET_BITS)
    for i in range(n):
        start[np.int64((queue[i, 0] * _GOLDEN) >> shift) + 1] += 1
    for b in range(1 << _BUCKET_BITS):
        start[b + 1] += start[b]
    for i in range(n):
        b = np.int64((queue[i, 0] * _GOLDEN) >> shift)
        j = start[b]
        start[b] = j + 1
        spare[j, 0] = queue[i, 0]
        spare[j, 1] = queue[i, 1]
    n_new = 0
    for i in range(n):
        key, stamp = spare[i, 0], spare[i, 1]
        s = _pair_slot(pairs_t, key)
        if pairs_t[s, 0] == key:
            _count_at(pairs_t, s, key, stamp)
        else:  # new: inserted below, once the table holds them all
            queue[n_new, 0] = key
            queue[n_new, 1] = stamp
            n_new += 1
    n_pairs = sizes[Z_PAIRS]
    cap = pairs_t.shape[0]
    while 2 * (n_pairs + n_new) > cap:  # an upper bound: a new pair queued by several documents counts more
        cap *= 2
    if cap > pairs_t.shape[0]:
        pairs_t = _rehash2(pairs_t, cap)
    for i in range(n_new):
        key = queue[i, 0]
        n_pairs += _count_at(pairs_t, _pair_slot(pairs_t, key), key, queue[i, 1])
    sizes[Z_PAIRS] = n_pairs
    return pairs_t


_LOCAL = 1 << 13  # slots of the per-document pair filter (64 KiB: stays in cache)


@nb.njit(inline="always", cache=True)
def _first_in_doc(local, used, n_used, key):
    """Whether this document emits `key` for the first time; the filter keeps the queued updates of the
    global table to about one per distinct pair of a document. Returns (first, n_used)."""
    lmask = np.uint64(_LOCAL - 1)
    s = _slot(key, lmask)
    while local[s] != np.uint64(0):
        if local[s] == key:
            return False, n_used
        s = (s + 1) & np.int64(lmask)
    if n_used >= _LOCAL // 2:  # full: forget what it held (the global table's stamp still dedupes)
        for k in range(n_used):
            local[used[k]] = np.uint64(0)
        n_used = 0
        s = _slot(key, lmask)
    local[s] = key
    used[n_used] = s
    return True, n_used + 1


@nb.njit(cache=True)
def _count_doc(out, out_h, n_m, d, docno, window, names_t, rows, hashes, pairs_t, sizes, active, act_pos, rid, local,
               used, queue, spare):
    """Update the name rows and the pair table with one document's mentions (sorted by position)."""
    stamp = np.uint64(docno + 1)
    for j in range(n_m):
        h1 = out_h[j, 0]
        r, s = _find_name(names_t, h1)
        if r < 0:
            r, names_t, rows, hashes = _new_name(names_t, rows, hashes, sizes, s, h1, out_h[j, 1], out[j, 5], d,
                                                 out[j, 3], out[j, 4])
        elif hashes[r, 1] != out_h[j, 1]:
            sizes[Z_COLLISIONS] += 1
        rid[j] = r
        rows[r, E_MENTIONS] += 1
        rows[r, E_KINDS] |= (1 << out[j, 2]) | (out[j, 6] << nm.KIND_GAZETTEER)
        if rows[r, E_LAST_DOC] != docno:
            rows[r, E_LAST_DOC] = docno
            rows[r, E_DOCS] += 1
    if n_m < 2:
        return names_t, rows, hashes, pairs_t
    if window < 0 or out[n_m - 1, 0] - out[0, 0] <= window:  # every mention inside one window: all pairs
        n = 0
        for j in range(n_m):
            r = rid[j]
            if out[j, 2] == nm.KIND_INNER:  # a name inside a longer one counts, but pairs as the longer one
                continue
            if rows[r, E_ACTIVE] == 0:
                rows[r, E_ACTIVE] = 1
                active[n] = r
                n += 1
        for x in range(n):
            rows[active[x], E_ACTIVE] = 0
            for y in range(x + 1, n):
                a, b = active[x], active[y]
                key = (np.uint64(min(a, b)) << np.uint64(32)) | np.uint64(max(a, b))
                if _queue_pair(queue, sizes, key, stamp):
                    pairs_t = _flush_pairs(queue, spare, pairs_t, sizes)
        return names_t, rows, hashes, pairs_t
    return names_t, rows, hashes, _sweep(out, rid, n_m, window, rows, pairs_t, sizes, stamp, active, act_pos, local,
                                         used, queue, spare)


@nb.njit(cache=True)
def _sweep(out, rid, n_m, window, rows, pairs_t, sizes, stamp, active, act_pos, local, used, queue, spare):
    """Pairs of a long document: each mention pairs with every name whose last mention is inside the window.

    The names in the window are dense arrays (row, last position), rows[r, E_ACTIVE] = index + 1, so the
    inner loop reads them sequentially instead of a row of the name table per candidate."""
    n_active = 0
    n_used = 0
    for j in range(n_m):
        r = rid[j]
        p = out[j, 0]
        if out[j, 2] == nm.KIND_INNER:
            continue
        k = 0
        while k < n_active:
            a = active[k]
            if act_pos[k] < p - window:
                rows[a, E_ACTIVE] = 0
                n_active -= 1
                if k < n_active:
                    active[k] = active[n_active]
                    act_pos[k] = act_pos[n_active]
                    rows[active[k], E_ACTIVE] = k + 1
                continue
            k += 1
            if a != r:
                key = (np.uint64(min(a, r)) << np.uint64(32)) | np.uint64(max(a, r))
                first, n_used = _first_in_doc(local, used, n_used, key)
                if first and _queue_pair(queue, sizes, key, stamp):
                    pairs_t = _flush_pairs(queue, spare, pairs_t, sizes)
        if rows[r, E_ACTIVE] > 0:
            act_pos[rows[r, E_ACTIVE] - 1] = p
        else:
            active[n_active] = r
            act_pos[n_active] = p
            n_active += 1
            rows[r, E_ACTIVE] = n_active
    for k in range(n_active):
        rows[active[k], E_ACTIVE] = 0
    for k in range(n_used):
        local[used[k]] = np.uint64(0)
    return pairs_t


@nb.njit(cache=True)
def _count_batch(buf, offsets, doc_base, window, rules, inner, rt_stop, rt_conn, rt_abbr, the_hash, s_hash,
                 g_keys, g_vals, g_mask, g_max, g_canon, names_t, rows, hashes, lower_t, pairs_t, sizes, queue, spare):
    n_docs = offsets.shape[0] - 1
    longest = 1
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d] + 1)
    tok, th, blanked, words, spans, out, out_h = nm.scratch(min(longest, nm.SCRATCH_TOKENS))
    active = np.empty(out.shape[0], dtype=np.int64)
    act_pos = np.empty(out.shape[0], dtype=np.int64)
    rid = np.empty(out.shape[0], dtype=np.int64)
    local = np.zeros(_LOCAL, dtype=np.uint64)
    used = np.empty(_LOCAL // 2, dtype=np.int64)
    for d in range(n_docs):
        while True:
            n_m, nt = nm.doc_mentions(buf, offsets[d], offsets[d + 1], tok, th, blanked, words, spans, out, out_h,
                                      rules, True, inner, rt_stop, rt_conn, rt_abbr, the_hash, s_hash, g_keys,
                                      g_vals, g_mask, g_max, g_canon)
            if n_m >= 0:
                break
            tok, th, blanked, words, spans, out, out_h = nm.scratch(nt + 1)
            active = np.empty(out.shape[0], dtype=np.int64)
            act_pos = np.empty(out.shape[0], dtype=np.int64)
            rid = np.empty(out.shape[0], dtype=np.int64)
        sizes[Z_TOKENS] += nt
        lower_t = _count_lower(tok, th, nt, lower_t, sizes, rt_stop)
        names_t, rows, hashes, pairs_t = _count_doc(out, out_h, n_m, d, doc_base + d, window, names_t, rows,
                                                    hashes, pairs_t, sizes, active, act_pos, rid, local, used, queue,
                                                    spare)
    return names_t, rows, hashes, lower_t, _flush_pairs(queue, spare, pairs_t, sizes)


@nb.njit(cache=True)
def _pairs_of(pairs_t, row_hash, n):
    """(a, b, docs) of the pair table with name hashes, a < b."""
    pa = np.empty(n, dtype=np.uint64)
    pb = np.empty(n, dtype=np.uint64)
    pd = np.empty(n, dtype=np.int64)
    k = 0
    for s in range(pairs_t.shape[0]):
        key = pairs_t[s, 0]
        if key != np.uint64(0):
            x = row_hash[np.int64(key >> np.uint64(32))]
            y = row_hash[np.int64(key & np.uint64(0xFFFFFFFF))]
            pa[k] = min(x, y)
            pb[k] = max(x, y)
            pd[k] = np.int64(pairs_t[s, 1] >> np.uint64(32))
            k += 1
    return pa, pb, pd


@nb.njit(cache=True)
def _gather(buf, starts, ends):
    """The bytes buf[starts[i]:ends[i]] of every i, end to end."""
    total = 0
    for i in range(starts.shape[0]):
        total += ends[i] - starts[i]
    out = np.empty(total, dtype=np.uint8)
    k = 0
    for i in range(starts.shape[0]):
        for j in range(starts[i], ends[i]):
            out[k] = buf[j]
            k += 1
    return out


def _string_array(chunks: list[np.ndarray], lengths: list[np.ndarray]) -> pa.Array:
    """Surface forms as one Arrow string array, built from the gathered bytes (no Python str per name: decoding
    them one by one was ~15% of counting). Bytes that are not UTF-8 (a lone surrogate passed in through the API;
    the readers never yield one) are decoded with replacement there, as a display name only."""
    data = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    lens = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    large = data.size >= 2**31
    offsets = np.zeros(lens.size + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lens, out=offsets[1:])
    kind = pa.large_string() if large else pa.string()
    arr = pa.Array.from_buffers(kind, lens.size, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        raw = data.tobytes()
        arr = pa.array([raw[s:e].decode("utf-8", "replace") for s, e in zip(offsets[:-1].tolist(),
                                                                              offsets[1:].tolist(), strict=True)], kind)
    return arr


@dataclass
class Run:
    """A shard's counts, keyed by name hash: what a part stores (one shard may have several runs)."""

    hash: np.ndarray  # uint64 (table order)
    check: np.ndarray  # uint64 second hash (collision detection)
    docs: np.ndarray  # int64
    mentions: np.ndarray  # int64
    kinds: np.ndarray  # int64 bit set of KIND_*
    ntok: np.ndarray  # int64 tokens of the key
    names: pa.Array  # strings: surface form of the first occurrence
    pair_a: np.ndarray  # uint64 name hash, pair_a < pair_b
    pair_b: np.ndarray
    pair_docs: np.ndarray  # int64
    lower_hash: np.ndarray  # uint64 one-word hash of a word used in lowercase
    lower_uses: np.ndarray  # int64
    documents: int
    tokens: int
    collisions: int


class ShardCounter:
    """Names, pairs and lowercase uses of a stream of batches, handed out as runs within a memory budget."""

    def __init__(self, window: int, gazetteer: nm.Gazetteer | None = None, rules: bool = True,
                 inner: bool = True, memory_mb: float = 1024):
        self.window = int(window)
        self.gazetteer = gazetteer or nm.Gazetteer.empty()
        self.rules = rules
        self.inner = inner
        self.memory_bytes = int(memory_mb * (1 << 20))
        self._rt = nm.rule_tables()
        rows = min(1 << 19, max(1 << 12, self.memory_bytes // 64 // 16))  # 8 MiB at the default budget
        self._queue = np.empty((rows, 2), dtype=np.uint64)  # pair updates, applied in table order per batch
        self._spare = np.empty_like(self._queue)
        self._reset()

    def _reset(self) -> None:
        self._names_t = np.zeros((1 << 14, 2), dtype=np.uint64)
        self._rows = np.zeros((1 << 13, _E_COLS), dtype=np.int64)
        self._hashes = np.zeros((1 << 13, 2), dtype=np.uint64)
        self._lower_t = np.zeros((1 << 14, 2), dtype=np.uint64)
        self._pairs_t = np.zeros((1 << 16, 2), dtype=np.uint64)
        self._sizes = np.zeros(6, dtype=np.int64)
        self._name_bytes: list[np.ndarray] = []  # surface forms of the names, per batch (see _string_array)
        self._name_lengths: list[np.ndarray] = []
        self.documents = 0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._names_t, self._rows, self._hashes, self._lower_t, self._pairs_t))

    def add(self, texts: Sequence[str]) -> list[Run]:
        """Count one batch; returns the runs handed out (when the tables passed the memory budget)."""
        runs = [self.run()] if self.documents + len(texts) >= 2**32 - 1 else []  # document stamps are 32-bit
        buf, offsets = nm.pack_texts(texts)
        g, rt = self.gazetteer, self._rt
        before = int(self._sizes[Z_NAMES])
        self._names_t, self._rows, self._hashes, self._lower_t, self._pairs_t = _count_batch(
            buf, offsets, self.documents, self.window, self.rules, self.inner, rt.stop, rt.connectors,
            rt.abbreviations, rt.the_hash, rt.s_hash, g.keys, g.vals, g.mask, g.max_tokens, g.canon,
            self._names_t, self._rows, self._hashes, self._lower_t, self._pairs_t, self._sizes, self._queue,
            self._spare)
        self.documents += len(texts)
        new = self._rows[before : int(self._sizes[Z_NAMES])]  # names first seen in this batch
        self._name_bytes.append(_gather(buf, new[:, E_FSTART], new[:, E_FEND]))
        self._name_lengths.append(new[:, E_FEND] - new[:, E_FSTART])
        if 2 * self.nbytes > self.memory_bytes:  # the next doubling of a table would pass the budget
            runs.append(self.run())
        return runs

    def run(self) -> Run:
        """The counts so far as a run (in table order), and fresh tables."""
        n = int(self._sizes[Z_NAMES])
        rows, hashes = self._rows[:n], self._hashes[:n]
        pair_a, pair_b, pair_docs = _pairs_of(self._pairs_t, hashes[:, 0], int(self._sizes[Z_PAIRS]))
        low = self._lower_t[self._lower_t[:, 0] != 0]
        run = Run(
            hash=hashes[:, 0].copy(), check=hashes[:, 1].copy(), docs=rows[:, E_DOCS].copy(),
            mentions=rows[:, E_MENTIONS].copy(), kinds=rows[:, E_KINDS].copy(), ntok=rows[:, E_NTOK].copy(),
            names=_string_array(self._name_bytes, self._name_lengths), pair_a=pair_a, pair_b=pair_b, pair_docs=pair_docs,
            lower_hash=low[:, 0], lower_uses=low[:, 1].astype(np.int64),
            documents=self.documents, tokens=int(self._sizes[Z_TOKENS]), collisions=int(self._sizes[Z_COLLISIONS]),
        )
        self._reset()
        return run

