"""Dictionary matching of vocabulary entries in normalized UTF-8 text (numba).

Every document is scanned for every vocabulary entry in one pass: the text is
tokenized in the kernel (a token is a run of ASCII letters/digits and non-ASCII
bytes, or a single ASCII punctuation mark), each token is hashed, and at every
token position the longest vocabulary entry starting there is found by walking a
hash table of all entry *prefixes* (token n-gram hashes). Most positions cost one
probe, so matching runs at memory speed whatever the vocabulary size.

The same `Matcher` finds entities in questions and answers at query time, so
query keys equal index keys by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np

from .normalize import normalize_text

#: Entries longer than this many tokens are not matchable (dropped at build with a count).
MAX_KEY_TOKENS = 24

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_SEQ_SEED = np.uint64(0x9E3779B97F4A7C15)
_SEQ_MUL = np.uint64(0xFF51AFD7ED558CCD)
#: The kernel's tokenization, for sizing only: runs of letters/digits/non-ASCII, or one punctuation byte.
_TOKEN_RE = re.compile(rb"[A-Za-z0-9\x80-\xff]+|[^\x00-\x20\x7f]")
_MISSING = -2  # not even a prefix of an entry
_PREFIX = -1  # a proper prefix of some entry, not an entry itself


@nb.njit(inline="always", cache=True)
def _is_sep(b: np.uint8) -> bool:
    return b <= 32 or b == 127


@nb.njit(inline="always", cache=True)
def _is_word(b: np.uint8) -> bool:
    return (48 <= b <= 57) or (97 <= b <= 122) or (65 <= b <= 90) or b >= 128


@nb.njit(cache=True)
def _tokenize(buf, start, end, out):
    """Hash the tokens of buf[start:end] into out; returns the token count."""
    n = 0
    i = start
    while i < end:
        b = buf[i]
        if _is_sep(b):
            i += 1
            continue
        h = _FNV_OFFSET
        if _is_word(b):
            while i < end and _is_word(buf[i]):
                h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
                i += 1
        else:
            h = (h ^ np.uint64(b)) * _FNV_PRIME
            i += 1
        out[n] = h
        n += 1
    return n


@nb.njit(inline="always", cache=True)
def _step(seq, tok):
    """Extend an n-gram hash by one token (order-sensitive, well mixed, never 0)."""
    h = (seq ^ tok) * _SEQ_MUL
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(29)
    if h == np.uint64(0):
        h = np.uint64(1)
    return h


@nb.njit(inline="always", cache=True)
def _probe(keys, vals, mask, h):
    slot = np.int64(h & mask)
    while True:
        k = keys[slot]
        if k == h:
            return vals[slot]
        if k == np.uint64(0):
            return _MISSING
        slot = (slot + 1) & mask


@nb.njit(cache=True)
def _insert(keys, vals, mask, h, value):
    """Insert h; an entry value (>= 0) overrides a prefix marker. Returns the stored value."""
    slot = np.int64(h & mask)
    while True:
        k = keys[slot]
        if k == np.uint64(0):
            keys[slot] = h
            vals[slot] = value
            return value
        if k == h:
            if vals[slot] == _PREFIX and value >= 0:
                vals[slot] = value
            return vals[slot]
        slot = (slot + 1) & mask


@nb.njit(cache=True)
def _build_table(buf, offsets, ids, keys, vals, mask, max_tokens):
    """Insert every entry and all its prefixes. Returns (max entry length, n conflicts, n too long)."""
    scratch = np.empty(max_tokens + 1, dtype=np.uint64)
    longest = 0
    conflicts = 0
    too_long = 0
    toks = np.empty(buf.shape[0] + 1, dtype=np.uint64)
    for e in range(ids.shape[0]):
        n = _tokenize(buf, offsets[e], offsets[e + 1], toks)
        if n == 0:
            continue
        if n > max_tokens:
            too_long += 1
            continue
        h = _SEQ_SEED
        for t in range(n):
            h = _step(h, toks[t])
            scratch[t] = h
        for t in range(n - 1):
            _insert(keys, vals, mask, scratch[t], _PREFIX)
        stored = _insert(keys, vals, mask, scratch[n - 1], ids[e])
        if stored != ids[e]:
            conflicts += 1
        if n > longest:
            longest = n
    return longest, conflicts, too_long


@nb.njit(cache=True)
def _grow(a, need):
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@nb.njit(cache=True)
def _match_batch(buf, offsets, keys, vals, mask, max_len):
    n_docs = offsets.shape[0] - 1
    ntokens = np.zeros(n_docs, dtype=np.int64)
    cap = 1024
    m_doc = np.empty(cap, dtype=np.int32)
    m_pos = np.empty(cap, dtype=np.int32)
    m_eid = np.empty(cap, dtype=np.int32)
    m_len = np.empty(cap, dtype=np.int32)
    m = 0
    longest_doc = 1
    for d in range(n_docs):
        longest_doc = max(longest_doc, offsets[d + 1] - offsets[d])
    toks = np.empty(longest_doc, dtype=np.uint64)
    for d in range(n_docs):
        nt = _tokenize(buf, offsets[d], offsets[d + 1], toks)
        ntokens[d] = nt
        i = 0
        while i < nt:
            h = _SEQ_SEED
            best_len = 0
            best_id = -1
            limit = min(max_len, nt - i)
            for n in range(limit):
                h = _step(h, toks[i + n])
                v = _probe(keys, vals, mask, h)
                if v == _MISSING:
                    break
                if v >= 0:
                    best_len = n + 1
                    best_id = v
            if best_len > 0:
                if m == m_doc.shape[0]:
                    m_doc = _grow(m_doc, m + 1)
                    m_pos = _grow(m_pos, m + 1)
                    m_eid = _grow(m_eid, m + 1)
                    m_len = _grow(m_len, m + 1)
                m_doc[m] = d
                m_pos[m] = i
                m_eid[m] = best_id
                m_len[m] = best_len
                m += 1
                i += best_len
            else:
                i += 1
    return m_doc[:m].copy(), m_pos[:m].copy(), m_eid[:m].copy(), m_len[:m].copy(), ntokens


def pack_texts(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Normalize and concatenate texts into one UTF-8 buffer plus offsets (len+1)."""
    encoded = [normalize_text(t).encode("utf-8", "surrogatepass") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8) if offsets[-1] else np.zeros(1, np.uint8)
    return buf, offsets


@dataclass(frozen=True)
class Mentions:
    """Matches in a batch, sorted by (doc, pos): parallel arrays plus tokens per document."""

    doc: np.ndarray  # int32, index of the document within the batch
    pos: np.ndarray  # int32, token position of the first token of the match
    eid: np.ndarray  # int32, entity id
    length: np.ndarray  # int32, tokens covered by the match
    ntokens: np.ndarray  # int64, tokens per document


@dataclass(frozen=True)
class MatcherStats:
    entries: int
    longest: int  # tokens in the longest entry
    conflicts: int  # entries whose token sequence another entry already claimed (first wins)
    too_long: int  # entries longer than MAX_KEY_TOKENS, not matchable


class Matcher:
    """Longest-match, case-insensitive, token-boundary dictionary matcher."""

    def __init__(self, entries: Iterable[tuple[str, int]]):
        """entries: (normalized key, entity id); several keys may share an id (aliases)."""
        entries = list(entries)
        keys_b = [k.encode("utf-8", "surrogatepass") for k, _ in entries]
        ids = np.asarray([i for _, i in entries], dtype=np.int32)
        offsets = np.zeros(len(keys_b) + 1, dtype=np.int64)
        np.cumsum([len(k) for k in keys_b], out=offsets[1:])
        buf = np.frombuffer(b"".join(keys_b), dtype=np.uint8) if offsets[-1] else np.zeros(1, np.uint8)
        n_prefixes = sum(len(_TOKEN_RE.findall(k)) for k in keys_b)  # table load stays <= 1/2
        cap = 1 << max(4, (2 * max(n_prefixes, 1) - 1).bit_length())
        self._keys = np.zeros(cap, dtype=np.uint64)
        self._vals = np.full(cap, _MISSING, dtype=np.int32)
        self._mask = np.uint64(cap - 1)
        longest, conflicts, too_long = _build_table(
            buf, offsets, ids, self._keys, self._vals, self._mask, MAX_KEY_TOKENS
        )
        self._max_len = max(int(longest), 1)
        self.stats = MatcherStats(len(entries), int(longest), int(conflicts), int(too_long))

    def match_batch(self, texts: Sequence[str]) -> Mentions:
        buf, offsets = pack_texts(texts)
        return Mentions(*_match_batch(buf, offsets, self._keys, self._vals, self._mask, self._max_len))

    def match(self, text: str) -> list[tuple[int, int, int]]:
        """(token position, entity id, length in tokens) of each match in one text, in order."""
        m = self.match_batch([text])
        return list(zip(m.pos.tolist(), m.eid.tolist(), m.length.tolist(), strict=True))

    def count_tokens(self, text: str) -> int:
        return int(self.match_batch([text]).ntokens[0])
