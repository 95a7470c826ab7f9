"""Read the evidence store: the documents behind a count, phrase counts, joint support, retrieval.

A name is searched as the phrase of its normalized key's tokens ("The Beatles'" -> "beatles"), any
other string as the phrase of its own tokens ("the first"), both tokenized as the documents were
(`cooc.indexer.evidence.analyzer`). Matching is by words at document level, so a
name's evidence documents include every document its count holds, and can hold more: a phrase
also matches inside a longer name ("Paris" in "Paris Hilton") and in lowercase text ("apple").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from cooc.indexer.errors import CoocError
from cooc.indexer.evidence import analyzer, open_store
from cooc.indexer.normalize import normalize_key

from .words import plural

#: characters of context either side of a mention in a snippet
CONTEXT_CHARS = 80
#: candidate documents read per batch when a window filters them
SCAN_BATCH = 64


@dataclass(frozen=True)
class EvidenceDoc:
    """One document where all the names occur; score: BM25 of the phrases (higher = more relevant)."""

    id: str  # the id field, else file:record
    file: str  # source file
    record: int  # line (JSONL, .txt lines) or row (Parquet)
    score: float
    snippet: str  # context around one mention of each name, mentions in [brackets]
    span: int | None = None  # words from the first to the last of the closest mentions (evidence only)
    marks: tuple[tuple[int, int], ...] = ()  # [start, end) of each bracketed mention in `snippet`, brackets excluded


@dataclass
class EvidenceResult:
    """documents: how many documents contain every name (document level, any distance apart)."""

    names: list[str]
    documents: int
    window: int | None  # None: document level
    docs: list[EvidenceDoc] = field(default_factory=list)
    scanned: int = 0  # candidates read to fill docs (all of them when fewer than `limit` pass the window)

    def to_dict(self) -> dict:
        return asdict(self)


class EvidenceStore:
    """A read-only view of an index's evidence store (`gen-N/evidence/`)."""

    def __init__(self, path: Path):
        if not (path / "meta.json").is_file():
            raise CoocError(f"{path.parent}: this index has no evidence store (built with --no-evidence); rebuild "
                            "it without that flag for documents, snippets, phrases and retrieval")
        self.path = path
        self._index = open_store(path)
        self._schema = self._index.schema
        self._searcher = self._index.searcher()
        self._analyzer = analyzer()
        import tantivy

        self._t = tantivy
        self.name_tokens = lru_cache(maxsize=65536)(self._name_tokens)
        self._count = lru_cache(maxsize=65536)(self._count_uncached)

    @property
    def documents(self) -> int:
        return int(self._searcher.num_docs)

    def _name_tokens(self, text: str) -> tuple[str, ...]:
        return tuple(self._analyzer.analyze(normalize_key(text)))

    def terms(self, names: Sequence[str] = (), phrases: Sequence[str] = ()) -> tuple[tuple[str, ...], ...]:
        """The token sequences searched for names (normalized keys) and phrases (their own words)."""
        return tuple(self.name_tokens(n) for n in names) + tuple(tuple(self._analyzer.analyze(p)) for p in phrases)

    def words(self, text: str) -> list[str]:
        """The words of a text as the store indexes them (lowercased, ASCII-folded)."""
        return self._analyzer.analyze(text or "")

    def _phrase(self, tokens: Sequence[str]):
        q = self._t.Query
        if len(tokens) == 1:
            return q.term_query(self._schema, "text", tokens[0])
        return q.phrase_query(self._schema, "text", list(tokens))

    def _query(self, terms: tuple[tuple[str, ...], ...]):
        if not terms or any(not t for t in terms):
            return None  # a string with no letter or digit matches nothing
        q = self._t.Query
        return q.boolean_query([(self._t.Occur.Must, self._phrase(t)) for t in terms])

    def count(self, names: Sequence[str] = (), phrases: Sequence[str] = ()) -> int:
        """Documents containing every name and phrase (an AND of phrase queries); cached per process."""
        return self._count(self.terms(names, phrases))

    def _count_uncached(self, terms: tuple[tuple[str, ...], ...]) -> int:
        query = self._query(terms)
        return int(self._searcher.search(query, 1, count=True).count) if query is not None else 0

    def evidence(self, texts: Sequence[str], window: int | None = None, limit: int = 10,
                 is_name: Sequence[bool] | None = None) -> EvidenceResult:
        """The documents where all `texts` occur (within `window` words of each other, when given).
        is_name: per text, searched as a name (its normalized key) or, False, as a phrase; default: names."""
        flags = list(is_name) if is_name is not None else [True] * len(texts)
        phrases = [(self.terms([t]) if f else self.terms(phrases=[t]))[0] for t, f in zip(texts, flags, strict=True)]
        query = self._query(tuple(phrases))
        if query is None:
            return EvidenceResult(list(texts), 0, window)
        total = int(self._searcher.search(query, 1, count=True).count)
        out = EvidenceResult(list(texts), total, window)
        offset = 0
        while len(out.docs) < limit and offset < total:
            batch = limit if window is None else SCAN_BATCH
            hits = self._searcher.search(query, batch, count=False, offset=offset).hits
            if not hits:
                break
            offset += len(hits)
            for score, address in hits:
                out.scanned += 1
                doc = self._document(score, address, phrases, window)
                if doc is not None and len(out.docs) < limit:
                    out.docs.append(doc)
        return out

    def _document(self, score: float, address, phrases: list[tuple[str, ...]], window: int | None) -> EvidenceDoc | None:
        d = self._searcher.doc(address)
        text = d["text"][0]
        found = self._mentions(text, phrases)
        best = _closest([sorted(f) for f in found])
        if best is None:
            return None
        starts = best[1]
        span = len(_WORD.findall(text, min(starts), max(starts)))  # words from the first mention to the last
        if window is not None and span > window:
            return None
        spans = sorted((start, f[start]) for start, f in zip(starts, found, strict=True))
        shown, marks = snippet(text, spans)
        return EvidenceDoc(d["id"][0], d["file"][0], int(d["record"][0]), round(float(score), 4), shown, span, marks)

    def _mentions(self, text: str, phrases: list[tuple[str, ...]]) -> list[dict[int, int]]:
        """Per phrase, its mentions in `text` (start -> end, in characters): a regex over the words (C speed,
        long documents included); the tokenizer itself where the regex misses (folded letters: "Zürich")."""
        low = text.lower()  # a literal-prefix search: far faster than a case-insensitive one
        if len(low) == len(text):
            found = [{m.start(): m.end() for m in _pattern(p).finditer(low)
                      if not m.start() or not low[m.start() - 1].isalnum()} for p in phrases]
            if all(found):
                return found
        tokens = self._analyzer.pre_tokenize(text).tokens
        words = [t.text for t in tokens]
        return [{tokens[i].char_offset_from: tokens[i + len(p) - 1].char_offset_to for i in _starts(words, p)}
                for p in phrases]

    def retrieve(self, question: str, k: int = 3) -> list[EvidenceDoc]:
        """BM25 top-k documents for a question (each of its words may match): the retrieve step of a RAG loop."""
        words = list(dict.fromkeys(self._analyzer.analyze(question)))
        if not words:
            return []
        q = self._t.Query
        query = q.boolean_query([(self._t.Occur.Should, q.term_query(self._schema, "text", w)) for w in words])
        out = []
        for score, address in self._searcher.search(query, k, count=False).hits:
            d = self._searcher.doc(address)
            text = d["text"][0]
            out.append(EvidenceDoc(d["id"][0], d["file"][0], int(d["record"][0]), round(float(score), 4),
                                   _lead(text)))
        return out


_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=4096)
def _pattern(phrase: tuple[str, ...]) -> re.Pattern:
    """The phrase's words (lowercase), separated by anything but letters and digits, ending a word (the caller
    checks the start: a leading look-behind would disable the regex engine's literal-prefix search)."""
    return re.compile(r"[\W_]+".join(map(re.escape, phrase)) + r"(?![^\W_])")


def _starts(words: list[str], phrase: tuple[str, ...]) -> list[int]:
    """Token positions where `phrase` starts."""
    n = len(phrase)
    return [i for i in range(len(words) - n + 1) if tuple(words[i : i + n]) == phrase]


def _closest(starts: list[list[int]]) -> tuple[int, list[int]] | None:
    """The smallest span (in characters) holding one start of every phrase, and those starts."""
    if any(not s for s in starts):
        return None
    events = sorted((pos, j) for j, s in enumerate(starts) for pos in s)
    last: dict[int, int] = {}
    best: tuple[int, list[int]] | None = None
    for pos, j in events:
        last[j] = pos
        if len(last) == len(starts):
            lo = min(last.values())
            if best is None or pos - lo < best[0]:
                best = (pos - lo, [last[k] for k in range(len(starts))])
    return best


#: stand-ins for the brackets while whitespace is collapsed (private-use code points, dropped from the text)
_OPEN, _CLOSE = "\ue000", "\ue001"


def snippet(text: str, spans: list[tuple[int, int]], context: int = CONTEXT_CHARS
            ) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Context around each mention (char spans, sorted), mentions in [brackets], far-apart pieces joined by ' … ';
    and where the bracketed mentions are in it (so a page can mark them without parsing brackets)."""
    text = text.replace(_OPEN, " ").replace(_CLOSE, " ") if _OPEN in text or _CLOSE in text else text
    pieces: list[list[int]] = []  # [start, end] of each piece of context
    for a, b in spans:
        lo, hi = max(0, a - context), min(len(text), b + context)
        if pieces and lo <= pieces[-1][1]:
            pieces[-1][1] = max(pieces[-1][1], hi)
        else:
            pieces.append([lo, hi])
    out = []
    for lo, hi in pieces:
        marks = [(a, b) for a, b in spans if lo <= a < hi]
        piece, cursor = [], lo
        for a, b in marks:
            if a < cursor:  # overlapping mentions: one bracket
                continue
            piece += [text[cursor:a], _OPEN, text[a:b], _CLOSE]
            cursor = b
        piece.append(text[cursor:hi])
        out.append(("…" if lo > 0 else "") + " ".join("".join(piece).split()) + ("…" if hi < len(text) else ""))
    return _brackets(" ".join(out))


def _brackets(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The stand-ins as brackets, and the [start, end) between each pair."""
    chars, marks, start = [], [], 0
    for ch in marked:
        if ch == _OPEN:
            start = len(chars) + 1
            chars.append("[")
        elif ch == _CLOSE:
            marks.append((start, len(chars)))
            chars.append("]")
        else:
            chars.append(ch)
    return "".join(chars), tuple(marks)


def _lead(text: str, chars: int = 2 * CONTEXT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[:chars].rsplit(" ", 1)[0] + "…"


def format_evidence(r: EvidenceResult) -> str:
    where = "in one document" if r.window is None else f"within {plural(r.window, 'word')}"
    names = " + ".join(repr(n) for n in r.names)
    head = f"{names}: {plural(r.documents, 'document')} (document level)"
    if r.window is not None:
        head += f"; showing those {where} ({len(r.docs)} of {r.scanned} read)"
    lines = [head]
    for d in r.docs:
        lines.append(f"  {d.id}  {Path(d.file).name}:{d.record}  (BM25 {d.score:.2f})")
        lines.append(f"    {d.snippet}")
    return "\n".join(lines)


def format_retrieved(docs: list[EvidenceDoc]) -> str:
    lines = []
    for rank, d in enumerate(docs, start=1):
        lines.append(f"{rank}. {d.id}  {Path(d.file).name}:{d.record}  (BM25 {d.score:.2f})")
        lines.append(f"   {d.snippet}")
    return "\n".join(lines) if lines else "no document matches"
