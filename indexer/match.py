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

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np

from .normalize import utf8

#: Entries longer than this many tokens are not matchable (dropped at build with a count).
MAX_KEY_TOKENS = 24

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_SEQ_SEED = np.uint64(0x9E3779B97F4A7C15)
_SEQ_MUL = np.uint64(0xFF51AFD7ED558CCD)
_MISSING = -2  # not even a prefix of an entry
_PREFIX = -1  # a proper prefix of some entry, not an entry itself


# Byte classes of the tokenizer.
_SEP, _WORD, _PUNCT, _IGNORE = 0, 1, 2, 3


@nb.njit(inline="always", cache=True)
def _classify(buf, i, end):
    """(class, bytes consumed, ASCII byte to hash for punctuation) of the character at buf[i],
    whose lead byte the class table marks _SPECIAL (ASCII never comes here).

    Folds what `normalize_text` folds with its translation table, so running text needs
    only NFKC + casefold in Python (and nothing at all when it is ASCII, whose case the
    tokenizer lowers): curly quotes, primes and guillemets become ' or ", dashes and minus
    become -, special spaces separate, zero-width characters are ignored.
    """
    b = buf[i]
    if b == 0xE2 and i + 2 < end:
        b1 = buf[i + 1]
        x = buf[i + 2]
        if b1 == 0x80:
            if (0x80 <= x <= 0x8A) or x == 0xAF:
                return _SEP, 3, 0
            if 0x8B <= x <= 0x8D:
                return _IGNORE, 3, 0
            if 0x90 <= x <= 0x95:
                return _PUNCT, 3, 45
            if (0x98 <= x <= 0x9B) or x == 0xB2:
                return _PUNCT, 3, 39
            if (0x9C <= x <= 0x9F) or x == 0xB3:
                return _PUNCT, 3, 34
        elif b1 == 0x88 and x == 0x92:  # minus sign
            return _PUNCT, 3, 45
    elif b == 0xC2 and i + 1 < end:
        x = buf[i + 1]
        if x == 0xA0:
            return _SEP, 2, 0
        if x == 0xAB or x == 0xBB:
            return _PUNCT, 2, 34
        if x == 0xB4:
            return _PUNCT, 2, 39
    elif b == 0xE3 and i + 2 < end and buf[i + 1] == 0x80 and buf[i + 2] == 0x80:
        return _SEP, 3, 0
    elif b == 0xEF and i + 2 < end and buf[i + 1] == 0xBB and buf[i + 2] == 0xBF:
        return _IGNORE, 3, 0
    return _WORD, 1, 0


def _byte_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per-byte class (_SPECIAL: lead byte of a character that is folded) and ASCII lowercase map."""
    cls = np.full(256, _WORD, dtype=np.uint8)
    for b in range(128):
        if b <= 32 or b == 127:
            cls[b] = _SEP
        elif not chr(b).isalnum():
            cls[b] = _PUNCT
    for lead in (0xC2, 0xE2, 0xE3, 0xEF):
        cls[lead] = _SPECIAL
    lower = np.arange(256, dtype=np.uint8)
    lower[65:91] += 32
    return cls, lower


_SPECIAL = 4
_CLASS, _LOWER = _byte_tables()


@nb.njit(cache=True)
def _tokenize(buf, start, end, out):
    """Hash the tokens of buf[start:end] into out; returns the token count."""
    n = 0
    i = start
    in_word = False
    h = _FNV_OFFSET
    while i < end:
        b = buf[i]
        kind = _CLASS[b]
        adv = 1
        c = b
        if kind == _SPECIAL:
            kind, adv, c = _classify(buf, i, end)
        if kind == _WORD:
            if not in_word:
                h = _FNV_OFFSET
                in_word = True
            h = (h ^ np.uint64(_LOWER[b])) * _FNV_PRIME
            i += 1
            continue
        i += adv
        if kind == _IGNORE:
            continue
        if in_word:
            out[n] = h
            n += 1
            in_word = False
        if kind == _PUNCT:
            out[n] = (_FNV_OFFSET ^ np.uint64(c)) * _FNV_PRIME
            n += 1
    if in_word:
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
def _total_tokens(buf, offsets):
    toks = np.empty(buf.shape[0] + 1, dtype=np.uint64)
    total = 0
    for e in range(offsets.shape[0] - 1):
        total += _tokenize(buf, offsets[e], offsets[e + 1], toks)
    return total


_FIRST_BITS = 16  # a 2**16-bit (8 KiB) filter of entries' first tokens: most tokens skip the hash table


@nb.njit(inline="always", cache=True)
def _first_slot(tok):
    return np.int64((tok >> np.uint64(40)) & np.uint64((1 << _FIRST_BITS) - 1))


@nb.njit(cache=True)
def _build_table(buf, offsets, ids, keys, vals, mask, max_tokens, first):
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
        slot = _first_slot(toks[0])
        first[slot >> 6] |= np.uint64(1) << np.uint64(slot & 63)
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
def _match_batch(buf, offsets, keys, vals, mask, max_len, first):
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
            slot = _first_slot(toks[i])
            if not (first[slot >> 6] >> np.uint64(slot & 63)) & np.uint64(1):
                i += 1
                continue
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


def _prepare(text: str) -> bytes:
    """UTF-8 for the kernel: ASCII as is (the kernel folds case and punctuation), else NFKC + casefold."""
    if text.isascii():
        return text.encode()
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return utf8(text.casefold())


def pack_texts(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate texts into one UTF-8 buffer plus offsets (len+1), ready for the kernel."""
    encoded = [_prepare(t) for t in texts]
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
        keys_b = [utf8(k) for k, _ in entries]
        ids = np.asarray([i for _, i in entries], dtype=np.int32)
        offsets = np.zeros(len(keys_b) + 1, dtype=np.int64)
        np.cumsum([len(k) for k in keys_b], out=offsets[1:])
        buf = np.frombuffer(b"".join(keys_b), dtype=np.uint8) if offsets[-1] else np.zeros(1, np.uint8)
        n_prefixes = _total_tokens(buf, offsets)  # every prefix is a slot: table load stays <= 1/2
        cap = 1 << max(4, (2 * max(n_prefixes, 1) - 1).bit_length())
        self._keys = np.zeros(cap, dtype=np.uint64)
        self._vals = np.full(cap, _MISSING, dtype=np.int32)
        self._mask = np.uint64(cap - 1)
        self._first = np.zeros((1 << _FIRST_BITS) // 64, dtype=np.uint64)
        longest, conflicts, too_long = _build_table(
            buf, offsets, ids, self._keys, self._vals, self._mask, MAX_KEY_TOKENS, self._first
        )
        self._max_len = max(int(longest), 1)
        self.stats = MatcherStats(len(entries), int(longest), int(conflicts), int(too_long))

    def match_batch(self, texts: Sequence[str]) -> Mentions:
        buf, offsets = pack_texts(texts)
        return Mentions(*_match_batch(buf, offsets, self._keys, self._vals, self._mask, self._max_len, self._first))

    def match(self, text: str) -> list[tuple[int, int, int]]:
        """(token position, entity id, length in tokens) of each match in one text, in order."""
        m = self.match_batch([text])
        return list(zip(m.pos.tolist(), m.eid.tolist(), m.length.tolist(), strict=True))

    def count_tokens(self, text: str) -> int:
        return int(self.match_batch([text]).ntokens[0])
