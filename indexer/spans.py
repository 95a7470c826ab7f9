"""The name rule, in readable Python: the reference the numba kernel (`names.py`) must equal.

A name is what the text writes as one, found on the kernel's tokens (a token is a run of
letters/digits or one punctuation mark; see `tokens`), so kernel and reference agree token for
token. In order:

1. **Quoted titles.** Text between double quotes (straight or curly, one line, at most 100
   bytes) is one name when it reads like a title: at most 8 words, the first capitalized or a
   number, every word of 4 letters or more capitalized ("Infinity on High"; a quoted sentence,
   "We will win", is not). Title tokens take no further part in the rule.
2. **Capitalized runs.** A *word* is a whitespace-delimited chunk starting with a word token
   and glued on with `' . & -` ("O'Brien", "Bros.", "AT&T", "Saint-Denis"); it is capitalized
   when its first letter is (A-Z, À-Þ). A run is capitalized words, with connectors ("of", "van",
   "&", ...) between them and an ordinal in front ("7th Avenue"). Numbers never join a run
   ("June 1938 Paris" is "June" and "Paris"). A run splits after a word that ends a sentence
   ("Ali.", not "Jr." or "D.C."), and at a period glued between two sentences
   ("Corlett.Jennifer"). Stop words are trimmed from both ends ("The Beatles" -> "Beatles"), a
   trailing possessive is dropped, and a lone word that opens a sentence is skipped when asked
   ("Musician and ...": documents and questions; answers keep it, "Pretoria is ...").
3. **Inner names.** A run with connectors also names each capitalized part between them
   ("Treaty of Paris" also mentions "Treaty" and "Paris"), so a longer name does not hide the
   names inside it.
4. **Numbers.** Years and large numbers ("1844", "10,445"), never a piece of a decimal or
   an amount ("6.213 km" holds no number 213).

Prepositions that mostly join two names in running text ("Jeff Davis for MTV") are not
connectors. A name's identity is the 64-bit hash of its tokens, case-folded
(`key_hash`); its key string is `normalize_key` of the text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from .normalize import utf8

MASK = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
SEQ_SEED = 0x9E3779B97F4A7C15
SEQ_MUL = 0xFF51AFD7ED558CCD
SEQ_MUL2 = 0xC4CEB9FE1A85EC53
SEQ2_SEED = 0x243F6A8885A308D3

NAME_LABEL = "NAME"
TITLE_LABEL = "TITLE"
NUMBER_LABEL = "NUMBER"
#: label codes of a mention, as the kernel emits them
KIND_NAME, KIND_TITLE, KIND_NUMBER, KIND_INNER, KIND_GAZETTEER = 0, 1, 2, 3, 4

MAX_TITLE_WORDS = 8
MAX_TITLE_BYTES = 100
#: Names longer than this many tokens are cut into no mention (they are almost always glued prose).
MAX_NAME_TOKENS = 24
#: Inner names: runs of at least this many words inside a name (a part between connectors counts whatever its
#: length); a part longer than MAX_INNER_WORDS gives only itself. Measured on HaluEval dev (README).
MIN_INNER_WORDS = 2
MAX_INNER_WORDS = 6

CONNECTORS = ("of", "the", "de", "del", "da", "di", "von", "van", "der", "den", "la", "le")
#: Abbreviations that end with a period inside a name ("Sammy Davis Jr. Award", "Warner Bros. Records").
ABBREVIATIONS = tuple(
    "jr sr st mr mrs ms dr co inc ltd corp bros gen col capt cpt lt sgt rev hon prof mt ft ave blvd rd"
    " dept univ assn est vol no vs jan feb mar apr jun jul aug sep sept oct nov dec".split())
#: Words that open a reply and are never a name on their own ("Yes, they are both actors").
REPLY_WORDS = ("yes", "yeah", "yep", "nope", "ok", "okay", "sure", "indeed", "correct", "true", "false")
_SENTENCE_END = ".!?:;"
_WORD_GLUE = "'.&-"
_OPENERS = "\"'("

# Token flags (the kernel uses the same bits).
F_SPACE, F_NEWLINE, F_CAP, F_LOWER, F_DIGITS, F_ORDINAL, F_END_LOWER2, F_CAP_LOWER = 1, 2, 4, 8, 16, 32, 64, 128
F_DIGIT_START = 256


#: spaCy 3.8's English STOP_WORDS (its ASCII, all-letter words), frozen here so that finding names
#: needs no spaCy import (~0.6 s per worker) and cannot change under a spaCy upgrade.
_SPACY_STOP_WORDS = (
    "a about above across after afterwards again against all almost alone along already also although "
    "always am among amongst amount an and another any anyhow anyone anything anyway anywhere are around "
    "as at back be became because become becomes becoming been before beforehand behind being below "
    "beside besides between beyond both bottom but by ca call can cannot could did do does doing done "
    "down due during each eight either eleven else elsewhere empty enough even ever every everyone "
    "everything everywhere except few fifteen fifty first five for former formerly forty four from front "
    "full further get give go had has have he hence her here hereafter hereby herein hereupon hers "
    "herself him himself his how however hundred i if in indeed into is it its itself just keep last "
    "latter latterly least less made make many may me meanwhile might mine more moreover most mostly move "
    "much must my myself name namely neither never nevertheless next nine no nobody none noone nor not "
    "nothing now nowhere of off often on once one only onto or other others otherwise our ours ourselves "
    "out over own part per perhaps please put quite rather re really regarding same say see seem seemed "
    "seeming seems serious several she should show side since six sixty so some somehow someone something "
    "sometime sometimes somewhere still such take ten than that the their them themselves then thence "
    "there thereafter thereby therefore therein thereupon these they third this those though three "
    "through throughout thru thus to together too top toward towards twelve twenty two under unless until "
    "up upon us used using various very via was we well were what whatever when whence whenever where "
    "whereafter whereas whereby wherein whereupon wherever whether which while whither who whoever whole "
    "whom whose why will with within without would yet you your yours yourself yourselves "
).split()


@cache
def stop_words() -> tuple[str, ...]:
    """Words never a name on their own, at the edge of a run: stop words and reply words."""
    return tuple(sorted(set(_SPACY_STOP_WORDS) | set(REPLY_WORDS)))


# ---------------------------------------------------------------------------------------------
# Preparation and case folding: what the kernel reads and how it folds it.

def prepare(text: str) -> str:
    """The text as the kernel reads it: NFKC for non-ASCII text, case kept (the rule needs it)."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


def _fold_table() -> dict[int, str]:
    table = {c: chr(c + 32) for c in range(0x41, 0x5B)}
    ranges = [(0xC0, 0xDE), (0x391, 0x3A9), (0x400, 0x42F)]
    for lo, hi in ranges:
        for c in range(lo, hi + 1):
            if c in (0xD7, 0x3A2):  # the multiplication sign; a reserved Greek code point
                continue
            table[c] = chr(c).lower()
    return table


FOLD = _fold_table()  # the kernel's case folding: ASCII, Latin-1, basic Greek and Cyrillic capitals

_SPECIAL_SPACE = {0xA0, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
                  0x200A, 0x202F, 0x3000}
_IGNORED = {0x200B, 0x200C, 0x200D, 0xFEFF}
_PUNCT_FOLD = {0x2010: "-", 0x2011: "-", 0x2012: "-", 0x2013: "-", 0x2014: "-", 0x2015: "-", 0x2212: "-",
               0x2018: "'", 0x2019: "'", 0x201A: "'", 0x201B: "'", 0x2032: "'", 0xB4: "'",
               0x201C: '"', 0x201D: '"', 0x201E: '"', 0x201F: '"', 0x2033: '"', 0xAB: '"', 0xBB: '"'}


def _char_class(ch: str) -> tuple[str, str]:
    """('space' | 'ignore' | 'punct' | 'word', the folded punctuation mark)."""
    o = ord(ch)
    if o < 128:
        if o <= 32 or o == 127:
            return "space", ""
        return ("word", "") if ch.isalnum() else ("punct", ch)
    if o in _SPECIAL_SPACE:
        return "space", ""
    if o in _IGNORED:
        return "ignore", ""
    if o in _PUNCT_FOLD:
        return "punct", _PUNCT_FOLD[o]
    return "word", ""


def _is_cap(ch: str) -> bool:
    return "A" <= ch <= "Z" or (0xC0 <= ord(ch) <= 0xDE and ord(ch) != 0xD7)


def _is_lower_start(ch: str) -> bool:
    return "a" <= ch <= "z" or (0xDF <= ord(ch) <= 0xFF and ord(ch) != 0xF7)


# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass
class Token:
    start: int  # byte offsets in the UTF-8 text
    end: int
    text: str  # folded (lowercase) text of the token, as hashed
    punct: str  # the punctuation mark ("" for a word token)
    flags: int
    chars: int  # characters
    alpha: int  # letters (ASCII letters and every non-ASCII character)

    @property
    def word(self) -> bool:
        return not self.punct


def _fnv(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


def _step(seq: int, tok: int, mul: int) -> int:
    h = ((seq ^ tok) * mul) & MASK
    h ^= h >> 33
    h = (h * SEQ_MUL2) & MASK
    h ^= h >> 29
    return h or 1


def _word_flags(raw: str, folded_has_cap: bool) -> int:
    flags = 0
    if _is_cap(raw[0]):
        flags |= F_CAP
    if _is_lower_start(raw[0]) and not folded_has_cap:
        flags |= F_LOWER
    if "0" <= raw[0] <= "9":
        flags |= F_DIGIT_START
    if raw.isascii() and raw.isdigit():
        flags |= F_DIGITS
    if raw.isascii() and len(raw) >= 3 and raw[-2:] in ("st", "nd", "rd", "th") and raw[:-2].isdigit():
        flags |= F_ORDINAL
    if len(raw) >= 2 and raw[-2:].isascii() and raw[-2:].isalpha() and raw[-2:].islower():
        flags |= F_END_LOWER2
    if len(raw) >= 2 and "A" <= raw[0] <= "Z" and "a" <= raw[1] <= "z":
        flags |= F_CAP_LOWER
    return flags


def tokens(text: str) -> list[Token]:
    """The kernel's tokens of a prepared text, with byte offsets and shape flags."""
    out: list[Token] = []
    pos = 0  # byte offset
    space, newline = True, False
    word: list[str] = []
    word_start = 0

    def flush(end: int) -> None:
        nonlocal space, newline
        raw = "".join(word)
        folded = raw.translate(FOLD)
        has_cap = any(_is_cap(c) for c in raw)
        flags = _word_flags(raw, has_cap) | (F_SPACE if space else 0) | (F_NEWLINE if newline else 0)
        alpha = sum(1 for c in raw if ord(c) >= 128 or c.isalpha())
        out.append(Token(word_start, end, folded, "", flags, len(raw), alpha))
        word.clear()
        space = newline = False

    for ch in text:
        kind, mark = _char_class(ch)
        n = len(utf8(ch))
        if kind == "ignore":
            pos += n
            continue
        if kind == "word":
            if not word:
                word_start = pos
            word.append(ch)
            pos += n
            continue
        if word:
            flush(pos)
        if kind == "space":
            space = True
            newline = newline or ch in "\n\r"
        else:
            flags = (F_SPACE if space else 0) | (F_NEWLINE if newline else 0)
            out.append(Token(pos, pos + n, mark, mark, flags, 1, 0))
            space = newline = False
        pos += n
    if word:
        flush(pos)
    return out


def token_hash(tok: Token) -> int:
    return _fnv(utf8(tok.text))


def seq_hash(toks: list[Token]) -> tuple[int, int]:
    """The identity of a name: two 64-bit hashes of its folded tokens (the second detects collisions)."""
    h1, h2 = SEQ_SEED, SEQ2_SEED
    for t in toks:
        a = token_hash(t)
        h1 = _step(h1, a, SEQ_MUL)
        h2 = _step(h2, a, SEQ_MUL2 | 1)
    return h1, h2


def key_tokens(toks: list[Token]) -> list[Token]:
    """The tokens a key keeps: edge punctuation, a trailing possessive and a leading 'the' dropped."""
    while True:
        before = len(toks)
        while toks and not toks[0].word:
            toks = toks[1:]
        while toks and not toks[-1].word:
            toks = toks[:-1]
        if len(toks) >= 3 and toks[-1].text == "s" and toks[-2].punct == "'" and not toks[-1].flags & F_SPACE \
                and not toks[-2].flags & F_SPACE:
            toks = toks[:-2]
        if len(toks) >= 2 and toks[0].text == "the" and toks[1].flags & F_SPACE:
            toks = toks[1:]
        if len(toks) == before:
            return toks


def key_hash(name: str) -> int:
    """The 64-bit identity of a name as the index stores it ("Microsoft", "microsoft's" -> the same)."""
    toks = key_tokens(tokens(prepare(name)))
    return seq_hash(toks)[0] if toks else 0


# ---------------------------------------------------------------------------------------------
# The rule


@dataclass(frozen=True)
class Span:
    """A mention: token range [first, last] of the prepared text, its byte range and kind."""

    first: int
    last: int
    start: int
    end: int
    kind: int


def _quoted_titles(toks: list[Token]) -> tuple[list[Span], set[int]]:
    """Quoted titles, and the tokens they cover (quotes included), which the run rule skips."""
    titles: list[Span] = []
    blanked: set[int] = set()
    quotes = [k for k, t in enumerate(toks) if t.punct == '"']
    q = 0
    while q + 1 < len(quotes):
        i, j = quotes[q], quotes[q + 1]
        gap = toks[j].start - toks[i].end
        if any(toks[k].flags & F_NEWLINE for k in range(i + 1, j + 1)) or not 1 <= gap <= MAX_TITLE_BYTES:
            q += 1  # not a quotation: the closing mark may open the next one
            continue
        span = _title(toks, i + 1, j - 1) if j > i + 1 else None
        if span is not None:
            titles.append(span)
            blanked.update(range(i, j + 1))
        q += 2
    return titles, blanked


def _title(toks: list[Token], lo: int, hi: int) -> Span | None:
    while hi >= lo and toks[hi].punct in (",", ".", ";", ":") and toks[hi].punct:
        hi -= 1
    if hi < lo:
        return None
    words: list[list[Token]] = []
    for k in range(lo, hi + 1):
        if not words or toks[k].flags & F_SPACE:
            words.append([])
        words[-1].append(toks[k])
    first = words[0][0]
    if len(words) > MAX_TITLE_WORDS or not first.flags & (F_CAP | F_DIGIT_START):
        return None
    if any(sum(t.alpha for t in w) >= 4 and not w[0].flags & F_CAP for w in words):
        return None
    if lo == hi and toks[lo].text in stop_words():
        return None  # "It": a stop word is never a name of its own
    span = Span(lo, hi, toks[lo].start, toks[hi].end, KIND_TITLE)
    return span if _acceptable(toks, span) else None


@dataclass
class _Word:
    first: int
    last: int
    cap: bool
    ends_sentence: bool = False
    glued_break: bool = False  # ends at a period glued to the next sentence


def _words(toks: list[Token], blanked: set[int]) -> list[_Word]:
    words: list[_Word] = []
    cur: _Word | None = None
    for k, t in enumerate(toks):
        glued = not t.flags & F_SPACE
        if k in blanked:
            cur = None
            continue
        if t.word:
            if cur is not None and glued:
                cur.last = k
            else:
                cur = _Word(k, k, bool(t.flags & F_CAP))
                words.append(cur)
        elif cur is not None and glued and t.punct in _WORD_GLUE:
            cur.last = k
            if t.punct == "." and _glued_sentence(toks, k):
                cur.glued_break = True
                cur = None
        elif t.punct == "&" and not glued and k + 1 < len(toks) and toks[k + 1].flags & F_SPACE and k + 1 not in blanked:
            words.append(_Word(k, k, False))  # a lone "&" connector ("Johnson & Johnson")
            cur = None
        else:
            cur = None
    for w in words:
        w.ends_sentence = w.glued_break or _ends_sentence(toks, w)
    return words


def _glued_sentence(toks: list[Token], k: int) -> bool:
    """A period glued between two sentences: "by William Corlett.Jennifer Saunders"."""
    prev, nxt = toks[k - 1], toks[k + 1] if k + 1 < len(toks) else None
    return (prev.word and bool(prev.flags & F_END_LOWER2) and nxt is not None and nxt.word
            and not nxt.flags & F_SPACE and bool(nxt.flags & F_CAP_LOWER))


def _ends_sentence(toks: list[Token], w: _Word) -> bool:
    """A word ending with a period that ends a sentence ("Varda.", "One.", not "Jr.", "Inc.", "D.C.")."""
    if toks[w.last].punct != "." or w.last == w.first:
        return False
    stem = toks[w.first : w.last]
    if any(t.punct == "." for t in stem) or sum(t.chars for t in stem) < 3:
        return False
    return not (len(stem) == 1 and stem[0].text in ABBREVIATIONS)


def _is_connector(toks: list[Token], w: _Word) -> bool:
    if w.first != w.last:
        return False
    t = toks[w.first]
    return t.punct == "&" or (t.word and bool(t.flags & F_LOWER) and t.text in CONNECTORS)


def _is_ordinal(toks: list[Token], w: _Word) -> bool:
    return w.first == w.last and bool(toks[w.first].flags & F_ORDINAL)


def _adjacent(toks: list[Token], a: _Word, b: _Word) -> bool:
    return b.first == a.last + 1 and bool(toks[b.first].flags & F_SPACE)


def _runs(toks: list[Token], words: list[_Word]) -> list[list[_Word]]:
    """Capitalized runs: [ordinal] cap (connector* cap)*, adjacent words only."""
    runs: list[list[_Word]] = []
    i = 0
    while i < len(words):
        start = i
        if _is_ordinal(toks, words[i]) and i + 1 < len(words) and words[i + 1].cap and _adjacent(toks, words[i], words[i + 1]):
            i += 1
        if not words[i].cap:
            i = start + 1
            continue
        run = words[start : i + 1]
        i += 1
        while i < len(words):
            j = i
            while j < len(words) and _is_connector(toks, words[j]) and _adjacent(toks, words[j - 1], words[j]):
                j += 1
            if j < len(words) and words[j].cap and _adjacent(toks, words[j - 1], words[j]):
                run += words[i : j + 1]
                i = j + 1
            else:
                break
        runs.append(run)
    return runs


def _split_sentences(run: list[_Word]) -> list[list[_Word]]:
    out, cur = [], []
    for w in run:
        cur.append(w)
        if w.ends_sentence:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def _is_stop(toks: list[Token], w: _Word, stop: frozenset[str]) -> bool:
    """A word that is a stop word once a possessive and its leading/trailing periods and apostrophes are
    stripped ("The", "It's")."""
    inner = [t for t in toks[w.first : w.last + 1]]
    if len(inner) >= 3 and inner[-1].text == "s" and inner[-2].punct == "'":
        inner = inner[:-2]  # "It's": a possessive does not hide a stop word
    while inner and inner[0].punct in (".", "'"):
        inner = inner[1:]
    while inner and inner[-1].punct in (".", "'"):
        inner = inner[:-1]
    return len(inner) == 1 and inner[0].word and inner[0].text in stop


def _opens_sentence(toks: list[Token], k: int, blanked: set[int]) -> bool:
    k -= 1
    while k >= 0 and (k in blanked or toks[k].punct in _OPENERS and toks[k].punct):
        k -= 1
    return k < 0 or (toks[k].punct != "" and toks[k].punct in _SENTENCE_END)


def _name_end(toks: list[Token], w: _Word) -> int:
    """The last token of a run's last word once a possessive and trailing periods are dropped."""
    last = w.last
    if last - 1 >= w.first and toks[last].word and toks[last].text == "s" and toks[last - 1].punct == "'":
        last -= 2
    elif toks[last].punct == "'":
        last -= 1
    while last >= w.first and toks[last].punct == ".":
        last -= 1
    return last


def _run_spans(toks: list[Token], run: list[_Word], blanked: set[int], skip_initial: bool,
               stop: frozenset[str], inner: bool) -> list[Span]:
    out: list[Span] = []
    opens_first = _opens_sentence(toks, run[0].first, blanked)
    for n, raw in enumerate(_split_sentences(run)):
        words = raw
        while words and _is_stop(toks, words[0], stop):
            words = words[1:]
        while words and _is_stop(toks, words[-1], stop):
            words = words[:-1]
        if not words:
            continue
        last = _name_end(toks, words[-1])
        if last < words[-1].first:
            continue
        if len(words) == 1 and skip_initial and raw[0] is words[0] and (n > 0 or opens_first):
            continue
        span = Span(words[0].first, last, toks[words[0].first].start, toks[last].end, KIND_NAME)
        if _acceptable(toks, span):
            out.append(span)
        if inner and len(words) > 1:
            out += _inner_spans(toks, words, last)
    return out


def _inner_spans(toks: list[Token], words: list[_Word], last: int) -> list[Span]:
    """The names inside a run: its parts between connectors ("Treaty", "Paris" of "Treaty of Paris") and
    the runs of at least MIN_INNER_WORDS words inside each part ("Erik Paulsen" of "Republican Erik
    Paulsen"), longest first; a part of more than MAX_INNER_WORDS words gives only itself."""
    parts: list[list[_Word]] = [[]]
    for w in words:
        if _is_connector(toks, w):
            parts.append([])
        else:
            parts[-1].append(w)
    out = []
    for part in parts:
        n = len(part)
        pairs = [(0, n - 1)] if n > MAX_INNER_WORDS else [(a, b) for a in range(n) for b in range(n - 1, a - 1, -1)]
        for a, b in pairs:
            if (b - a + 1 < MIN_INNER_WORDS and (a, b) != (0, n - 1)) or (part[a] is words[0] and part[b] is words[-1]):
                continue  # too short, or the run itself
            end = min(part[b].last, last)
            while end > part[a].first and toks[end].punct == ".":
                end -= 1
            span = Span(part[a].first, end, toks[part[a].first].start, toks[end].end, KIND_INNER)
            if _acceptable(toks, span):
                out.append(span)
    return out


def _acceptable(toks: list[Token], span: Span) -> bool:
    """At least 2 characters and at most MAX_NAME_TOKENS tokens."""
    n = span.last - span.first + 1
    return n <= MAX_NAME_TOKENS and sum(t.chars for t in toks[span.first : span.last + 1]) >= 2


def _numbers(toks: list[Token], blanked: set[int]) -> list[Span]:
    """Years and large numbers: 3-4 digits, or digits grouped by commas; not inside a decimal or amount."""
    out = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if k in blanked or not t.flags & F_DIGITS:
            k += 1
            continue
        if not t.flags & F_SPACE and k > 0 and (toks[k - 1].word or toks[k - 1].punct in ".,$"):
            k += 1
            continue
        last = k
        if t.chars <= 3:
            while (last + 2 < len(toks) and toks[last + 1].punct == "," and not toks[last + 1].flags & F_SPACE
                   and toks[last + 2].flags & F_DIGITS and toks[last + 2].chars == 3
                   and not toks[last + 2].flags & F_SPACE and last + 2 not in blanked):
                last += 2
        if last == k and not 3 <= t.chars <= 4:
            k += 1
            continue
        nxt = last + 1
        if (nxt + 1 < len(toks) and toks[nxt].punct in (".", ",") and toks[nxt].punct
                and not toks[nxt].flags & F_SPACE and toks[nxt + 1].flags & F_DIGITS and not toks[nxt + 1].flags & F_SPACE):
            k = last + 1
            continue
        out.append(Span(k, last, t.start, toks[last].end, KIND_NUMBER))
        k = last + 1
    return out


def find_spans(text: str, skip_sentence_initial: bool = True, inner: bool = True) -> tuple[list[Token], list[Span]]:
    """Tokens of a prepared text and every name mention the rule finds, sorted by first token."""
    toks = tokens(text)
    stop = frozenset(stop_words())
    titles, blanked = _quoted_titles(toks)
    spans = list(titles)
    for run in _runs(toks, _words(toks, blanked)):
        spans += _run_spans(toks, run, blanked, skip_sentence_initial, stop, inner)
    spans += _numbers(toks, blanked)
    return toks, sorted(spans, key=lambda s: (s.first, -(s.last - s.first), s.kind))


def span_text(text: str, span: Span) -> str:
    return utf8(text)[span.start : span.end].decode("utf-8", "surrogatepass")


def candidate_spans(text: str, skip_sentence_initial: bool = True, numbers: bool = True) -> list[str]:
    """The names a text writes, as strings, unique, in order (the reference, for readers and tests)."""
    text = prepare(text)
    _, spans = find_spans(text, skip_sentence_initial, inner=False)
    names = [span_text(text, s) for s in spans if numbers or s.kind != KIND_NUMBER]
    return list(dict.fromkeys(names))


def mentions(text: str, skip_sentence_initial: bool = True, inner: bool = True) -> list[tuple[int, int, int, int]]:
    """(first token, token count, name hash, kind) of every mention, as the kernel emits them."""
    text = prepare(text)
    toks, spans = find_spans(text, skip_sentence_initial, inner)
    out = []
    for s in spans:
        kt = key_tokens(toks[s.first : s.last + 1])
        if kt:
            out.append((s.first, s.last - s.first + 1, seq_hash(kt)[0], s.kind))
    return out
