"""Find every name a text writes, in one pass over its UTF-8 bytes (numba).

This is the kernel of the rule that `spans.py` states in readable Python; tests hold the
two equal token for token. Per document it tokenizes (a token is a run of letters/digits
or one punctuation mark, hashed case-folded), finds quoted titles, capitalized runs, the
names between a run's connectors, years and large numbers, and the entries of an optional
gazetteer (longest match, case-insensitive, aliases mapped to their canonical name). A name
is identified by a 64-bit hash of its tokens; a second, independent hash rides along so a
collision of two different names is detected.

`find_batch` returns the mentions of many texts (the scorer, tests); `count.py` calls the
same per-document function inside its counting kernel, so counting never materializes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np

from . import spans as ref
from .normalize import utf8

_SEP, _WORD, _PUNCT, _IGNORE = 0, 1, 2, 3
_MISSING = -2
_PREFIX = -1

FNV_OFFSET = np.uint64(ref.FNV_OFFSET)
FNV_PRIME = np.uint64(ref.FNV_PRIME)
SEQ_SEED = np.uint64(ref.SEQ_SEED)
SEQ2_SEED = np.uint64(ref.SEQ2_SEED)
SEQ_MUL = np.uint64(ref.SEQ_MUL)
SEQ_MUL2 = np.uint64(ref.SEQ_MUL2)
SEQ_MUL2_ODD = np.uint64(ref.SEQ_MUL2 | 1)

F_SPACE, F_NEWLINE, F_CAP, F_LOWER = ref.F_SPACE, ref.F_NEWLINE, ref.F_CAP, ref.F_LOWER
F_DIGITS, F_ORDINAL, F_END_LOWER2, F_CAP_LOWER = ref.F_DIGITS, ref.F_ORDINAL, ref.F_END_LOWER2, ref.F_CAP_LOWER
F_DIGIT_START = ref.F_DIGIT_START
KIND_NAME, KIND_TITLE, KIND_NUMBER = ref.KIND_NAME, ref.KIND_TITLE, ref.KIND_NUMBER
KIND_INNER, KIND_GAZETTEER = ref.KIND_INNER, ref.KIND_GAZETTEER
MAX_TITLE_WORDS, MAX_TITLE_BYTES, MAX_NAME_TOKENS = ref.MAX_TITLE_WORDS, ref.MAX_TITLE_BYTES, ref.MAX_NAME_TOKENS
MIN_INNER_WORDS, MAX_INNER_WORDS = ref.MIN_INNER_WORDS, ref.MAX_INNER_WORDS


def _ascii_classes() -> np.ndarray:
    cls = np.full(128, _WORD, dtype=np.uint8)
    for b in range(128):
        if b <= 32 or b == 127:
            cls[b] = _SEP
        elif not chr(b).isalnum():
            cls[b] = _PUNCT
    return cls


_ASCII = _ascii_classes()
_LOWER = np.array([b + 32 if 65 <= b <= 90 else b for b in range(128)], dtype=np.uint8)
#: ASCII letter/digit properties: 1 upper, 2 lower, 4 digit
_PROPS = np.array([1 if 65 <= b <= 90 else 2 if 97 <= b <= 122 else 4 if 48 <= b <= 57 else 0
                   for b in range(128)], dtype=np.uint8)

# Token columns (int64): start byte, end byte, flags, chars, alpha, punctuation mark (0 for a word).
T_START, T_END, T_FLAGS, T_CHARS, T_ALPHA, T_PUNCT = 0, 1, 2, 3, 4, 5
_T_COLS = 6


@nb.njit(inline="always", cache=True)
def _special(buf, i, end):
    """(class, bytes, folded ASCII mark) of a non-ASCII character that is folded, else a word character."""
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
    n = 1
    if b >= 0xF0:
        n = 4
    elif b >= 0xE0:
        n = 3
    elif b >= 0xC0:
        n = 2
    return _WORD, min(n, end - i), 0


@nb.njit(inline="always", cache=True)
def _fold2(b0, b1):
    """Lowercase of a 2-byte character (Latin-1, basic Greek and Cyrillic capitals), and whether it was a capital."""
    a = np.int64(b0)
    c = np.int64(b1)
    if a == 0xC3 and 0x80 <= c <= 0x9E and c != 0x97:
        return a, c + 0x20, True
    if a == 0xCE:
        if 0x91 <= c <= 0x9F:
            return a, c + 0x20, False
        if 0xA0 <= c <= 0xA9 and c != 0xA2:
            return np.int64(0xCF), c - 0x20, False
    if a == 0xD0:
        if 0x90 <= c <= 0x9F:
            return a, c + 0x20, False
        if 0xA0 <= c <= 0xAF:
            return np.int64(0xD1), c - 0x20, False
        if 0x80 <= c <= 0x8F:
            return np.int64(0xD1), c + 0x10, False
    return a, c, False


@nb.njit(inline="always", cache=True)
def _mix(h, b):
    return (h ^ np.uint64(b)) * FNV_PRIME


@nb.njit(cache=True)
def tokenize(buf, s, e, tok, th, store=True):
    """Tokens of buf[s:e] into tok (int64 columns T_*) and th (their folded FNV-1a hashes); returns the count.

    store=False only counts them; -1 when tok has too few rows (the caller sizes it and retries).
    """
    n = 0
    i = s
    space = True
    newline = False
    in_word = False
    h1 = FNV_OFFSET
    ws = 0
    chars = 0
    alpha = 0
    flags0 = 0
    has_cap = False
    all_digits = True
    ascii_only = True
    digit_prefix = 0
    c1 = -1  # first two and last two characters (ASCII code, or -1)
    c2 = -1
    p1 = -1
    p2 = -1
    while i < e or in_word:
        kind = _SEP
        adv = 1
        mark = 0
        if i < e:
            b = buf[i]
            if b < 128:
                kind = np.int64(_ASCII[b])
                mark = np.int64(b)
            else:
                kind, adv, mark = _special(buf, i, e)
                if kind == _IGNORE:
                    i += adv
                    continue
        if i < e and kind == _WORD:
            b = buf[i]
            if not in_word:
                in_word = True
                ws = i
                h1 = FNV_OFFSET
                chars = 0
                alpha = 0
                has_cap = False
                all_digits = True
                ascii_only = True
                digit_prefix = 0
                flags0 = 0
                c1 = -1
                c2 = -1
            code = -1
            if b < 128:
                # ASCII letters and digits: a tight loop over the rest of the run
                if chars == 0:
                    p = _PROPS[b]
                    if p & 1:
                        flags0 |= F_CAP
                    elif p & 2:
                        flags0 |= F_LOWER
                    elif p & 4:
                        flags0 |= F_DIGIT_START
                while True:
                    p = _PROPS[b]
                    h1 = (h1 ^ np.uint64(_LOWER[b])) * FNV_PRIME
                    if p & 1:
                        has_cap = True
                    if p & 4:
                        if digit_prefix == chars:
                            digit_prefix += 1
                    else:
                        all_digits = False
                        alpha += 1
                    if chars == 1:
                        c2 = np.int64(b)
                    elif chars == 0:
                        c1 = np.int64(b)
                    p1 = p2
                    p2 = np.int64(b)
                    chars += 1
                    i += 1
                    if i >= e:
                        break
                    b = buf[i]
                    if b >= 128 or _ASCII[b] != _WORD:
                        break
                continue
            else:
                all_digits = False
                ascii_only = False
                alpha += 1
                if adv == 2:
                    f0, f1, cap = _fold2(buf[i], buf[i + 1])
                    h1 = _mix(h1, f0)
                    h1 = _mix(h1, f1)
                    if cap:
                        has_cap = True
                    if chars == 0:
                        if cap:
                            flags0 |= F_CAP
                        elif b == 0xC3 and buf[i + 1] >= 0x9F and buf[i + 1] != 0xB7:
                            flags0 |= F_LOWER
                else:
                    for k in range(adv):
                        h1 = _mix(h1, buf[i + k])
            if chars == 0:
                c1 = code
            elif chars == 1:
                c2 = code
            p1 = p2
            p2 = code
            chars += 1
            i += adv
            continue
        if in_word:  # flush the word token
            f = flags0
            if has_cap:
                f &= ~F_LOWER
            if all_digits:
                f |= F_DIGITS
            if ascii_only and chars >= 3 and digit_prefix == chars - 2:
                if (p1 == 115 and p2 == 116) or (p1 == 110 and p2 == 100) or (p1 == 114 and p2 == 100) \
                        or (p1 == 116 and p2 == 104):
                    f |= F_ORDINAL
            if chars >= 2 and 97 <= p1 <= 122 and 97 <= p2 <= 122:
                f |= F_END_LOWER2
            if chars >= 2 and 65 <= c1 <= 90 and 97 <= c2 <= 122:
                f |= F_CAP_LOWER
            if space:
                f |= F_SPACE
            if newline:
                f |= F_NEWLINE
            if store:
                if n >= tok.shape[0]:
                    return -1
                tok[n, T_START] = ws
                tok[n, T_END] = i
                tok[n, T_FLAGS] = f
                tok[n, T_CHARS] = chars
                tok[n, T_ALPHA] = alpha
                tok[n, T_PUNCT] = 0
                th[n] = h1
            n += 1
            in_word = False
            space = False
            newline = False
            if i >= e:
                break
        if kind == _SEP:
            space = True
            if mark == 10 or mark == 13:
                newline = True
        else:
            if store:
                if n >= tok.shape[0]:
                    return -1
                f = 0
                if space:
                    f |= F_SPACE
                if newline:
                    f |= F_NEWLINE
                tok[n, T_START] = i
                tok[n, T_END] = i + adv
                tok[n, T_FLAGS] = f
                tok[n, T_CHARS] = 1
                tok[n, T_ALPHA] = 0
                tok[n, T_PUNCT] = mark
                th[n] = (FNV_OFFSET ^ np.uint64(mark)) * FNV_PRIME
            n += 1
            space = False
            newline = False
        i += adv
    return n


@nb.njit(inline="always", cache=True)
def _step(seq, tok, mul):
    h = (seq ^ tok) * mul
    h ^= h >> np.uint64(33)
    h *= SEQ_MUL2
    h ^= h >> np.uint64(29)
    if h == np.uint64(0):
        h = np.uint64(1)
    return h


@nb.njit(inline="always", cache=True)
def _in(table, h):
    """Membership in a small open-addressing set (see `_hash_set`)."""
    mask = table.shape[0] - 1
    slot = np.int64(h >> np.uint64(40)) & mask
    while True:
        k = table[slot]
        if k == h:
            return True
        if k == np.uint64(0):
            return False
        slot = (slot + 1) & mask


def _hash_set(hashes: Iterable[int]) -> np.ndarray:
    """An open-addressing set of token hashes, at most 1/4 full, for `_in`."""
    hashes = sorted(set(hashes))
    table = np.zeros(1 << max(4, (4 * len(hashes)).bit_length()), dtype=np.uint64)
    mask = table.shape[0] - 1
    for h in hashes:
        slot = (h >> 40) & mask
        while table[slot]:
            slot = (slot + 1) & mask
        table[slot] = h
    return table


@nb.njit(inline="always", cache=True)
def _is_word(tok, k):
    return tok[k, T_PUNCT] == 0


@nb.njit(inline="always", cache=True)
def _fl(tok, k, f):
    return (tok[k, T_FLAGS] & f) != 0


@nb.njit(cache=True)
def key_range(tok, th, first, last, the_hash, s_hash):
    """[first, last] narrowed as `spans.key_tokens` narrows a key; last < first when nothing is left."""
    while True:
        before = last - first
        while first <= last and not _is_word(tok, first):
            first += 1
        while last >= first and not _is_word(tok, last):
            last -= 1
        if last - first >= 2 and th[last] == s_hash and tok[last - 1, T_PUNCT] == 39 \
                and not _fl(tok, last, F_SPACE) and not _fl(tok, last - 1, F_SPACE):
            last -= 2
        if last - first >= 1 and th[first] == the_hash and _fl(tok, first + 1, F_SPACE):
            first += 1
        if last - first == before:
            return first, last


@nb.njit(cache=True)
def seq_hash(th, first, last):
    h1 = SEQ_SEED
    h2 = SEQ2_SEED
    for k in range(first, last + 1):
        h1 = _step(h1, th[k], SEQ_MUL)
        h2 = _step(h2, th[k], SEQ_MUL2_ODD)
    return h1, h2


# The key rule's two word hashes, as constants of the lookup kernels: numba freezes a global at compile time,
# so a lookup passes two arguments, not six (numba's dispatch costs ~0.2 us per argument; a lookup ~2 us).
# RuleTables carries the same values to the batch kernels; both come from `spans._fnv`. (numba's cache tracks
# only this file: a change to `spans._fnv` needs the caches cleared, as any change to the hash does.)
_THE_HASH = np.uint64(ref._fnv(b"the"))
_S_HASH = np.uint64(ref._fnv(b"s"))


@dataclass(frozen=True)
class RuleTables:
    """Hash sets the rule needs (`_hash_set` tables): stop words, connectors, abbreviations; two token hashes."""

    stop: np.ndarray
    connectors: np.ndarray
    abbreviations: np.ndarray
    the_hash: np.uint64
    s_hash: np.uint64

    @classmethod
    def build(cls) -> RuleTables:
        def hashes(words: Iterable[str]) -> np.ndarray:
            return _hash_set(ref._fnv(w.encode()) for w in words)

        return cls(hashes(ref.stop_words()), hashes(ref.CONNECTORS), hashes(ref.ABBREVIATIONS),
                   _THE_HASH, _S_HASH)


# Span columns (int64): first token, last token, kind
S_FIRST, S_LAST, S_KIND = 0, 1, 2


@nb.njit(inline="always", cache=True)
def _acceptable(tok, first, last):
    if last - first + 1 > MAX_NAME_TOKENS:
        return False
    chars = 0
    for k in range(first, last + 1):
        chars += tok[k, T_CHARS]
    return chars >= 2


@nb.njit(cache=True)
def _title(tok, th, lo, hi, rt_stop):
    """[lo, hi] of a quoted title, or (0, -1) when the quotation reads like a sentence."""
    while hi >= lo and (tok[hi, T_PUNCT] == 44 or tok[hi, T_PUNCT] == 46 or tok[hi, T_PUNCT] == 59
                        or tok[hi, T_PUNCT] == 58):
        hi -= 1
    if hi < lo:
        return 0, -1
    words = 0
    k = lo
    while k <= hi:  # each whitespace-delimited chunk: count letters, check its capital
        words += 1
        if words > MAX_TITLE_WORDS:
            return 0, -1
        head = k
        letters = tok[k, T_ALPHA]
        k += 1
        while k <= hi and not _fl(tok, k, F_SPACE):
            letters += tok[k, T_ALPHA]
            k += 1
        cap = _fl(tok, head, F_CAP)
        if words == 1 and not (cap or _fl(tok, head, F_DIGIT_START)):
            return 0, -1
        if letters >= 4 and not cap:
            return 0, -1
    if lo == hi and _in(rt_stop, th[lo]):
        return 0, -1  # "It": a stop word is never a name of its own
    if not _acceptable(tok, lo, hi):
        return 0, -1
    return lo, hi


@nb.njit(cache=True)
def _titles(tok, th, n, blanked, spans, ns, rt_stop):
    q_prev = -1
    k = 0
    while k < n:
        if tok[k, T_PUNCT] != 34:
            k += 1
            continue
        if q_prev < 0:
            q_prev = k
            k += 1
            continue
        i = q_prev
        j = k
        gap = tok[j, T_START] - tok[i, T_END]
        ok = 1 <= gap <= MAX_TITLE_BYTES
        if ok:
            for m in range(i + 1, j + 1):
                if _fl(tok, m, F_NEWLINE):
                    ok = False
                    break
        if not ok:
            q_prev = j
            k += 1
            continue
        if j > i + 1:
            lo, hi = _title(tok, th, i + 1, j - 1, rt_stop)
            if hi >= lo:
                spans[ns, S_FIRST] = lo
                spans[ns, S_LAST] = hi
                spans[ns, S_KIND] = KIND_TITLE
                ns += 1
                for m in range(i, j + 1):
                    blanked[m] = True
        q_prev = -1
        k += 1
    return ns


# Word columns (int64): first, last, cap, ends a sentence, connector, ordinal, stop
W_FIRST, W_LAST, W_CAP, W_ENDS, W_CONN, W_ORD, W_STOP = 0, 1, 2, 3, 4, 5, 6


@nb.njit(cache=True)
def _words(tok, th, n, blanked, words, rt_stop, rt_conn, rt_abbr, s_hash):
    nw = 0
    cur = -1  # index of the open word, or -1
    for k in range(n):
        glued = not _fl(tok, k, F_SPACE)
        if blanked[k]:
            cur = -1
            continue
        if _is_word(tok, k):
            if cur >= 0 and glued:
                words[cur, W_LAST] = k
            else:
                cur = nw
                words[nw, W_FIRST] = k
                words[nw, W_LAST] = k
                words[nw, W_CAP] = 1 if _fl(tok, k, F_CAP) else 0
                words[nw, W_ENDS] = 0
                nw += 1
            continue
        p = tok[k, T_PUNCT]
        if cur >= 0 and glued and (p == 39 or p == 46 or p == 38 or p == 45):
            words[cur, W_LAST] = k
            if p == 46 and _glued_sentence(tok, n, k):
                words[cur, W_ENDS] = 1
                cur = -1
        elif p == 38 and not glued and k + 1 < n and _fl(tok, k + 1, F_SPACE) and not blanked[k + 1]:
            words[nw, W_FIRST] = k
            words[nw, W_LAST] = k
            words[nw, W_CAP] = 0
            words[nw, W_ENDS] = 0
            nw += 1
            cur = -1
        else:
            cur = -1
    for w in range(nw):
        f = words[w, W_FIRST]
        last = words[w, W_LAST]
        if words[w, W_ENDS] == 0 and _ends_sentence(tok, th, f, last, rt_abbr):
            words[w, W_ENDS] = 1
        single = f == last
        words[w, W_CONN] = 1 if single and (tok[f, T_PUNCT] == 38 or (
            _fl(tok, f, F_LOWER) and _is_word(tok, f) and _in(rt_conn, th[f]))) else 0
        words[w, W_ORD] = 1 if single and _fl(tok, f, F_ORDINAL) else 0
        words[w, W_STOP] = 0
        if words[w, W_CAP] == 1 or words[w, W_CONN] == 1:  # the words a run holds
            b = last
            if b - 2 >= f and th[b] == s_hash and tok[b - 1, T_PUNCT] == 39:
                b -= 2  # "It's": a possessive does not hide a stop word
            while b > f and (tok[b, T_PUNCT] == 46 or tok[b, T_PUNCT] == 39):
                b -= 1
            words[w, W_STOP] = 1 if b == f and _is_word(tok, f) and _in(rt_stop, th[f]) else 0
    return nw


@nb.njit(inline="always", cache=True)
def _glued_sentence(tok, n, k):
    if k == 0 or k + 1 >= n:
        return False
    return (_is_word(tok, k - 1) and _fl(tok, k - 1, F_END_LOWER2) and _is_word(tok, k + 1)
            and not _fl(tok, k + 1, F_SPACE) and _fl(tok, k + 1, F_CAP_LOWER))


@nb.njit(inline="always", cache=True)
def _ends_sentence(tok, th, first, last, rt_abbr):
    if tok[last, T_PUNCT] != 46 or last == first:
        return False
    chars = 0
    for k in range(first, last):
        if tok[k, T_PUNCT] == 46:
            return False
        chars += tok[k, T_CHARS]
    if chars < 3:
        return False
    return not (last - first == 1 and _in(rt_abbr, th[first]))


@nb.njit(inline="always", cache=True)
def _adjacent(tok, words, a, b):
    return words[b, W_FIRST] == words[a, W_LAST] + 1 and _fl(tok, words[b, W_FIRST], F_SPACE)


@nb.njit(cache=True)
def _opens_sentence(tok, k, blanked):
    k -= 1
    while k >= 0 and (blanked[k] or tok[k, T_PUNCT] == 34 or tok[k, T_PUNCT] == 39 or tok[k, T_PUNCT] == 40):
        k -= 1
    if k < 0:
        return True
    p = tok[k, T_PUNCT]
    return p == 46 or p == 33 or p == 63 or p == 58 or p == 59


@nb.njit(cache=True)
def _name_end(tok, th, first, last, s_hash):
    if last - 1 >= first and _is_word(tok, last) and th[last] == s_hash and tok[last - 1, T_PUNCT] == 39:
        last -= 2
    elif tok[last, T_PUNCT] == 39:
        last -= 1
    while last >= first and tok[last, T_PUNCT] == 46:
        last -= 1
    return last


@nb.njit(cache=True)
def _emit(spans, ns, first, last, kind):
    spans[ns, S_FIRST] = first
    spans[ns, S_LAST] = last
    spans[ns, S_KIND] = kind
    return ns + 1


@nb.njit(cache=True)
def _run_spans(tok, th, words, r0, r1, blanked, skip_initial, inner, s_hash, spans, ns):
    """Spans of the run words[r0..r1]: split at sentence ends, stop words trimmed, inner parts."""
    opens_first = _opens_sentence(tok, words[r0, W_FIRST], blanked)
    a = r0
    part = 0
    while a <= r1:
        b = a
        while b < r1 and words[b, W_ENDS] == 0:
            b += 1
        lo = a
        hi = b
        while lo <= hi and words[lo, W_STOP] == 1:
            lo += 1
        while hi >= lo and words[hi, W_STOP] == 1:
            hi -= 1
        if lo <= hi:
            last = _name_end(tok, th, words[hi, W_FIRST], words[hi, W_LAST], s_hash)
            skip = lo == hi and skip_initial and lo == a and (part > 0 or opens_first)
            if last >= words[hi, W_FIRST] and not skip:
                first = words[lo, W_FIRST]
                if _acceptable(tok, first, last):
                    ns = _emit(spans, ns, first, last, KIND_NAME)
                if inner and hi > lo:
                    ns = _inner(tok, words, lo, hi, last, spans, ns)
        part += 1
        a = b + 1
    return ns


@nb.njit(inline="always", cache=True)
def _emit_inner(tok, words, a, b, last, spans, ns):
    """The inner name of words[a..b], without trailing periods, if acceptable."""
    end = min(words[b, W_LAST], last)
    while end > words[a, W_FIRST] and tok[end, T_PUNCT] == 46:
        end -= 1
    if _acceptable(tok, words[a, W_FIRST], end):
        ns = _emit(spans, ns, words[a, W_FIRST], end, KIND_INNER)
    return ns


@nb.njit(cache=True)
def _inner(tok, words, lo, hi, last, spans, ns):
    """Names inside the run words[lo..hi]: as `spans._inner_spans`, in the same order."""
    ps = lo
    while ps <= hi:
        while ps <= hi and words[ps, W_CONN] == 1:
            ps += 1
        if ps > hi:
            break
        pe = ps
        while pe < hi and words[pe + 1, W_CONN] == 0:
            pe += 1
        if pe - ps + 1 > MAX_INNER_WORDS:  # a long part gives only itself (no quadratic loop over its words)
            if not (ps == lo and pe == hi):
                ns = _emit_inner(tok, words, ps, pe, last, spans, ns)
        else:
            for a in range(ps, pe + 1):
                for b in range(pe, a - 1, -1):
                    if (b - a + 1 < MIN_INNER_WORDS and not (a == ps and b == pe)) or (a == lo and b == hi):
                        continue  # too short, or the run itself
                    ns = _emit_inner(tok, words, a, b, last, spans, ns)
        ps = pe + 1
    return ns


@nb.njit(cache=True)
def _runs(tok, th, words, nw, blanked, skip_initial, inner, s_hash, spans, ns):
    i = 0
    while i < nw:
        start = i
        if words[i, W_ORD] == 1 and i + 1 < nw and words[i + 1, W_CAP] == 1 and _adjacent(tok, words, i, i + 1):
            i += 1
        if words[i, W_CAP] == 0:
            i = start + 1
            continue
        end = i
        i += 1
        while i < nw:
            j = i
            while j < nw and words[j, W_CONN] == 1 and _adjacent(tok, words, j - 1, j):
                j += 1
            if j < nw and words[j, W_CAP] == 1 and _adjacent(tok, words, j - 1, j):
                end = j
                i = j + 1
            else:
                break
        ns = _run_spans(tok, th, words, start, end, blanked, skip_initial, inner, s_hash, spans, ns)
    return ns


@nb.njit(cache=True)
def _numbers(tok, n, blanked, spans, ns):
    k = 0
    while k < n:
        if blanked[k] or not _fl(tok, k, F_DIGITS):
            k += 1
            continue
        if not _fl(tok, k, F_SPACE) and k > 0:
            p = tok[k - 1, T_PUNCT]
            if p == 0 or p == 46 or p == 44 or p == 36:
                k += 1
                continue
        last = k
        if tok[k, T_CHARS] <= 3:
            while (last + 2 < n and tok[last + 1, T_PUNCT] == 44 and not _fl(tok, last + 1, F_SPACE)
                   and _fl(tok, last + 2, F_DIGITS) and tok[last + 2, T_CHARS] == 3
                   and not _fl(tok, last + 2, F_SPACE) and not blanked[last + 2]):
                last += 2
        if last == k and not 3 <= tok[k, T_CHARS] <= 4:
            k += 1
            continue
        nxt = last + 1
        if (nxt + 1 < n and (tok[nxt, T_PUNCT] == 46 or tok[nxt, T_PUNCT] == 44) and not _fl(tok, nxt, F_SPACE)
                and _fl(tok, nxt + 1, F_DIGITS) and not _fl(tok, nxt + 1, F_SPACE)):
            k = last + 1
            continue
        ns = _emit(spans, ns, k, last, KIND_NUMBER)
        k = last + 1
    return ns


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
def _gazetteer(tok, th, n, g_keys, g_vals, g_mask, g_max, spans, ns):
    """Longest gazetteer entry at each word token; span kind KIND_GAZETTEER + entry index * 8."""
    i = 0
    while i < n:
        if not _is_word(tok, i):
            i += 1
            continue
        h = SEQ_SEED
        best_len = 0
        best = -1
        for m in range(min(g_max, n - i)):
            h = _step(h, th[i + m], SEQ_MUL)
            v = _probe(g_keys, g_vals, g_mask, h)
            if v == _MISSING:
                break
            if v >= 0:
                best_len = m + 1
                best = v
        if best_len > 0:
            ns = _emit(spans, ns, i, i + best_len - 1, KIND_GAZETTEER + 8 * best)
            i += best_len
        else:
            i += 1
    return ns


@nb.njit(cache=True)
def doc_mentions(buf, s, e, tok, th, blanked, words, spans, out, out_h, rules, skip_initial, inner,
                 rt_stop, rt_conn, rt_abbr, the_hash, s_hash, g_keys, g_vals, g_mask, g_max, g_canon):
    """Mentions of one document, sorted by (first token, longer first, kind); returns (mentions, tokens).

    out[m] = (first token, token count, kind, key first byte, key end byte, key tokens, in the gazetteer);
    out_h[m] = (hash, hash2).
    A gazetteer alias maps to its canonical name, and a gazetteer match that repeats a rule mention
    (same tokens, same name) is not counted twice.
    """
    n = tokenize(buf, s, e, tok, th, True)
    if n < 0:
        return -1, tokenize(buf, s, e, tok, th, False)
    ns = 0
    for k in range(n):
        blanked[k] = False
    seg = np.zeros(5, dtype=np.int64)  # titles, runs, numbers, gazetteer: each already in order
    if rules:
        ns = _titles(tok, th, n, blanked, spans, ns, rt_stop)
        seg[1] = ns
        nw = _words(tok, th, n, blanked, words, rt_stop, rt_conn, rt_abbr, s_hash)
        ns = _runs(tok, th, words, nw, blanked, skip_initial, inner, s_hash, spans, ns)
        seg[2] = ns
        ns = _numbers(tok, n, blanked, spans, ns)
    seg[3] = ns
    if g_max > 0:
        ns = _gazetteer(tok, th, n, g_keys, g_vals, g_mask, g_max, spans, ns)
    seg[4] = ns
    heads = seg[:4].copy()
    nm = 0
    pick = 0
    for _ in range(ns):
        m = -1
        best = np.int64(0)
        for g in range(4):  # merge the four ordered segments by (first token, longer first, kind)
            if heads[g] < seg[g + 1]:
                q = heads[g]
                kind_q = spans[q, S_KIND] if spans[q, S_KIND] < KIND_GAZETTEER else KIND_GAZETTEER
                key = spans[q, S_FIRST] * 1024 + (63 - (spans[q, S_LAST] - spans[q, S_FIRST])) * 8 + kind_q
                if m < 0 or key < best:
                    m = q
                    best = key
                    pick = g
        heads[pick] += 1
        first = spans[m, S_FIRST]
        last = spans[m, S_LAST]
        kind = spans[m, S_KIND]
        kf, kl = key_range(tok, th, first, last, the_hash, s_hash)
        if kl < kf:
            continue
        listed = 0
        if kind >= KIND_GAZETTEER:
            listed = 1
            entry = (kind - KIND_GAZETTEER) // 8
            h1 = g_canon[entry, 0]
            h2 = g_canon[entry, 1]
            kind = KIND_GAZETTEER
        else:
            h1, h2 = seq_hash(th, kf, kl)
            if g_max > 0:
                v = _probe(g_keys, g_vals, g_mask, h1)
                if v >= 0:  # a rule name that is a gazetteer name or alias: it counts (and is labelled) as that
                    h1 = g_canon[v, 0]
                    h2 = g_canon[v, 1]
                    listed = 1
        if kind == KIND_GAZETTEER and nm > 0 and out[nm - 1, 0] == first and \
                out[nm - 1, 1] == last - first + 1 and out_h[nm - 1, 0] == h1:
            continue
        out[nm, 0] = first
        out[nm, 1] = last - first + 1
        out[nm, 2] = kind
        out[nm, 3] = tok[kf, T_START]
        out[nm, 4] = tok[kl, T_END]
        out[nm, 5] = kl - kf + 1
        out[nm, 6] = listed
        out_h[nm, 0] = h1
        out_h[nm, 1] = h2
        nm += 1
    return nm, n


@nb.njit(cache=True)
def scratch(ntok):
    """Per-document work arrays for up to ntok tokens: tokens, hashes, blanked, words, spans, mentions."""
    ntok = max(ntok, 16)
    return (np.empty((ntok, _T_COLS), dtype=np.int64), np.empty(ntok, dtype=np.uint64),
            np.empty(ntok, dtype=np.bool_), np.empty((ntok, 7), dtype=np.int64),
            np.empty((3 * ntok, 3), dtype=np.int64), np.empty((3 * ntok, 7), dtype=np.int64),
            np.empty((3 * ntok, 2), dtype=np.uint64))


#: scratch rows allocated up front; a longer document is counted first and gets its own
SCRATCH_TOKENS = 1 << 16


@nb.njit(cache=True)
def _find_batch(buf, offsets, rules, skip_initial, inner, rt_stop, rt_conn, rt_abbr, the_hash, s_hash,
                g_keys, g_vals, g_mask, g_max, g_canon):
    n_docs = offsets.shape[0] - 1
    longest = 1
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d] + 1)
    tok, th, blanked, words, spans, out, out_h = scratch(min(longest, SCRATCH_TOKENS))
    cap = 1024
    res = np.empty((cap, 6), dtype=np.int64)
    res_h = np.empty((cap, 2), dtype=np.uint64)
    ntokens = np.zeros(n_docs, dtype=np.int64)
    total = 0
    for d in range(n_docs):
        while True:
            nm, nt = doc_mentions(buf, offsets[d], offsets[d + 1], tok, th, blanked, words, spans, out, out_h,
                                  rules, skip_initial[d], inner, rt_stop, rt_conn, rt_abbr, the_hash, s_hash,
                                  g_keys, g_vals, g_mask, g_max, g_canon)
            if nm >= 0:
                break
            tok, th, blanked, words, spans, out, out_h = scratch(nt + 1)
        ntokens[d] = nt
        if total + nm > cap:
            cap = max(2 * cap, total + nm)
            res2 = np.empty((cap, 6), dtype=np.int64)
            res2[:total] = res[:total]
            res = res2
            rh2 = np.empty((cap, 2), dtype=np.uint64)
            rh2[:total] = res_h[:total]
            res_h = rh2
        for m in range(nm):
            res[total, 0] = d
            for c in range(5):
                res[total, c + 1] = out[m, c]
            res_h[total, 0] = out_h[m, 0]
            res_h[total, 1] = out_h[m, 1]
            total += 1
    return res[:total].copy(), res_h[:total].copy(), ntokens


@nb.njit(cache=True)
def _ngrams(buf, offsets, max_n, the_hash, s_hash):
    """Every word n-gram (n <= max_n, starting and ending at a word token that is not a number) of each
    text, key-trimmed: (doc, first token, token count, key token count, key start byte, key end byte)
    rows and their hashes, for looking names up in lowercase text."""
    n_docs = offsets.shape[0] - 1
    longest = 1
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d] + 1)
    tok = np.empty((longest, _T_COLS), dtype=np.int64)
    th = np.empty(longest, dtype=np.uint64)
    cap = 1024
    rows = np.empty((cap, 6), dtype=np.int64)
    hashes = np.empty(cap, dtype=np.uint64)
    total = 0
    for d in range(n_docs):
        n = tokenize(buf, offsets[d], offsets[d + 1], tok, th, True)
        for i in range(n):
            if not _is_word(tok, i) or _fl(tok, i, F_DIGITS):
                continue
            for j in range(i, min(n, i + max_n)):
                if not _is_word(tok, j) or _fl(tok, j, F_DIGITS):  # numbers come from the rule only ("6.213")
                    continue
                kf, kl = key_range(tok, th, i, j, the_hash, s_hash)
                if kl < kf:
                    continue
                if total == cap:
                    cap *= 2
                    r2 = np.empty((cap, 6), dtype=np.int64)
                    r2[:total] = rows[:total]
                    rows = r2
                    h2 = np.empty(cap, dtype=np.uint64)
                    h2[:total] = hashes[:total]
                    hashes = h2
                rows[total, 0] = d
                rows[total, 1] = i
                rows[total, 2] = j - i + 1
                rows[total, 3] = kl - kf + 1
                rows[total, 4] = tok[kf, T_START]
                rows[total, 5] = tok[kl, T_END]
                hashes[total] = seq_hash(th, kf, kl)[0]
                total += 1
    return rows[:total].copy(), hashes[:total].copy()


def pack_texts(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Prepared texts in one UTF-8 buffer plus offsets (len + 1), ready for the kernel."""
    encoded = [utf8(ref.prepare(t)) for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded), dtype=np.uint8) if offsets[-1] else np.zeros(1, np.uint8)
    return buf, offsets


class Gazetteer:
    """Names to find case-insensitively wherever the text writes them, aliases mapped to a canonical name.

    A table of every entry's token n-gram prefixes gives the longest entry at each token in one
    probe per token; `canon[i]` is the identity (hash pair) of entry i's canonical name.
    """

    def __init__(self, entries: Iterable[tuple[str, str]]):
        """entries: (name or alias, canonical name)."""
        names, canon = [], []
        for name, canonical in entries:
            names.append(name)
            canon.append(canonical)
        self.canonical_names = sorted(set(canon))
        index = {c: i for i, c in enumerate(self.canonical_names)}
        self.canon = np.zeros((max(len(self.canonical_names), 1), 2), dtype=np.uint64)
        for c, i in index.items():
            self.canon[i] = name_hashes(c)
        entry_tokens = [_key(n)[0] for n in names]
        n_prefixes = sum(len(t) for t in entry_tokens)
        cap = 1 << max(4, (2 * max(n_prefixes, 1) - 1).bit_length())
        self.keys = np.zeros(cap, dtype=np.uint64)
        self.vals = np.full(cap, _MISSING, dtype=np.int64)
        self.mask = np.uint64(cap - 1)
        self.max_tokens = 0
        self.conflicts = 0
        for toks, c in zip(entry_tokens, canon, strict=True):
            if not len(toks) or len(toks) > MAX_NAME_TOKENS:
                continue
            self.max_tokens = max(self.max_tokens, len(toks))
            self.conflicts += _insert_entry(self.keys, self.vals, self.mask, toks, index[c])

    @classmethod
    def empty(cls) -> Gazetteer:
        return cls([])


@nb.njit(cache=True)
def _insert_entry(keys, vals, mask, toks, value):
    """An entry's token n-gram prefixes as prefix markers, and the entry itself."""
    h = SEQ_SEED
    conflicts = 0
    for t in range(toks.shape[0]):
        h = _step(h, toks[t], SEQ_MUL)
        conflicts += _insert(keys, vals, mask, h, value if t == toks.shape[0] - 1 else _PREFIX)
    return conflicts


@nb.njit(cache=True)
def _insert(keys, vals, mask, h, value):
    """Insert h; an entry (>= 0) overrides a prefix marker. Returns 1 when another entry already held h."""
    slot = np.int64(h & mask)
    while True:
        k = keys[slot]
        if k == np.uint64(0):
            keys[slot] = h
            vals[slot] = value
            return 0
        if k == h:
            if vals[slot] == _PREFIX and value >= 0:
                vals[slot] = value
                return 0
            return 1 if value >= 0 and vals[slot] != value else 0
        slot = (slot + 1) & mask


@nb.njit(cache=True)
def _key_hashes(buf, tok, th, the_hash, s_hash):
    """A name's key tokens th[kf..kl] and its (identity, check) hashes; one kernel call per name."""
    n = tokenize(buf, 0, len(buf), tok, th, True)
    if n <= 0:
        return 0, -1, np.uint64(0), np.uint64(0)
    kf, kl = key_range(tok, th, 0, n - 1, the_hash, s_hash)
    if kl < kf:
        return 0, -1, np.uint64(0), np.uint64(0)
    h1, h2 = seq_hash(th, kf, kl)
    return kf, kl, h1, h2


@nb.njit(cache=True)
def _name_key(buf):
    """(key token hashes, identity, check hash) of one name's UTF-8 bytes."""
    tok = np.empty((len(buf) + 1, _T_COLS), dtype=np.int64)
    th = np.empty(len(buf) + 1, dtype=np.uint64)
    kf, kl, h1, h2 = _key_hashes(buf, tok, th, _THE_HASH, _S_HASH)
    return th[kf : kl + 1].copy(), h1, h2


@nb.njit(cache=True)
def _key_position(buf, keys):
    """(position of a name's identity hash in the sorted `keys` or -1, the hash): a lookup by name in one
    kernel call (hashing, then numpy's searchsorted, cost two calls and ~1.5 us more)."""
    tok = np.empty((len(buf) + 1, _T_COLS), dtype=np.int64)
    th = np.empty(len(buf) + 1, dtype=np.uint64)
    kf, kl, h1, h2 = _key_hashes(buf, tok, th, _THE_HASH, _S_HASH)
    k = np.searchsorted(keys, h1)
    if kl >= kf and k < keys.shape[0] and keys[k] == h1:
        return k, h1
    return -1, h1


def _key(name: str) -> tuple[np.ndarray, np.uint64, np.uint64]:
    """(key token hashes, identity, check hash) of a name."""
    tokens, h1, h2 = _name_key(utf8(ref.prepare(name)))  # bytes, as key_position passes them (numba takes bytes)
    return tokens, np.uint64(h1), np.uint64(h2)


def key_position(name: str, keys: np.ndarray) -> tuple[int, int]:
    """(position of the name's identity hash in the sorted uint64 array `keys`, or -1; that hash).

    The kernel reads the UTF-8 bytes as they are (numba takes `bytes`): wrapping them with np.frombuffer
    cost ~1 us of a ~5 us lookup."""
    return _key_position(utf8(ref.prepare(name)), keys)


def name_hashes(name: str) -> tuple[int, int]:
    """(identity, check hash) of a name as the index keys it; (0, 0) when nothing is left of it."""
    _, h1, h2 = _key(name)
    return int(h1), int(h2)


def name_hash_u64(name: str) -> np.uint64:
    """name_hash as a numpy uint64, for searching uint64 arrays (numba returns a Python int, which
    numpy would compare by converting the whole array)."""
    return _key(name)[1]


def name_hash(name: str) -> int:
    return name_hashes(name)[0]


_RULE_TABLES: list[RuleTables] = []


def rule_tables() -> RuleTables:
    if not _RULE_TABLES:
        _RULE_TABLES.append(RuleTables.build())
    return _RULE_TABLES[0]


@dataclass(frozen=True)
class Found:
    """Mentions of a batch of texts, sorted by (text, first token): parallel arrays."""

    doc: np.ndarray  # int64 text index
    first: np.ndarray  # int64 first token
    length: np.ndarray  # int64 tokens
    kind: np.ndarray  # int64 KIND_*
    start: np.ndarray  # int64 byte offsets of the key in the batch's packed buffer (`pack_texts`)
    end: np.ndarray
    hash: np.ndarray  # uint64 identity
    ntokens: np.ndarray  # int64 tokens per text
    buf: np.ndarray  # the packed texts (`pack_texts`), for `name` and `ngrams`
    offsets: np.ndarray

    def name(self, i: int) -> str:
        """Mention i as the text writes it (its key tokens)."""
        return self.buf[self.start[i] : self.end[i]].tobytes().decode("utf-8", "surrogatepass")


def find_batch(texts: Sequence[str], skip_sentence_initial: bool | Sequence[bool] = True, inner: bool = True,
               gazetteer: Gazetteer | None = None, rules: bool = True) -> Found:
    """Every mention in many texts, with one kernel call."""
    buf, offsets = pack_texts(texts)
    skip = np.asarray([skip_sentence_initial] * len(texts) if isinstance(skip_sentence_initial, bool)
                      else list(skip_sentence_initial), dtype=np.bool_)
    rt = rule_tables()
    g = gazetteer or Gazetteer.empty()
    res, res_h, ntokens = _find_batch(buf, offsets, rules, skip, inner, rt.stop, rt.connectors, rt.abbreviations,
                                      rt.the_hash, rt.s_hash, g.keys, g.vals, g.mask, g.max_tokens, g.canon)
    return Found(res[:, 0], res[:, 1], res[:, 2], res[:, 3], res[:, 4], res[:, 5], res_h[:, 0], ntokens, buf, offsets)


def ngrams(texts: Sequence[str], max_n: int, packed: tuple[np.ndarray, np.ndarray] | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(rows of (text, first token, tokens, key tokens, key start byte, key end byte), hashes) of every
    word n-gram up to max_n tokens (bytes: offsets in the packed buffer, as `Found.start`/`end`).

    packed: the texts already packed (`Found.buf`, `Found.offsets`), so a batch is prepared once.
    """
    buf, offsets = packed if packed is not None else pack_texts(texts)
    rt = rule_tables()
    return _ngrams(buf, offsets, max_n, rt.the_hash, rt.s_hash)
