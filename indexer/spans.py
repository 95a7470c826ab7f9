"""Capitalized name spans: the rule that finds names without a model.

Used on both sides so they agree: the build can add every name that recurs in the
corpus to the vocabulary (`--rules`), and the scorer reports names of a question or
answer that the vocabulary does not cover as unseen. A span is a run of capitalized
words, with connectors ("of", "van", "&", ...) and numbers allowed inside and an
ordinal allowed in front ("7th Avenue"), stop words trimmed from both ends.

A title in double quotes ("Infinity on High", "Man Down") is one span however it is cased
inside, when it looks like a title: at most 8 words, every word of 4 letters or more
capitalized (a quoted sentence, "We will win", is not a title).

Prepositions that mostly join two names in running text ("Jeff Davis for MTV", "Vienna on
5 October") are not connectors: a glued span would be one rare entity that hides both names
from the counts, while splitting a real name ("Miracle on 34th Street") still counts its parts.
"""

from __future__ import annotations

import re
from functools import cache

from .normalize import normalize_key

_CAP = r"[A-Z\u00C0-\u00DE][\w'\u2019.&-]*"
_NUM = r"\d[\w.-]*"
_ORDINAL = r"\d+(?:st|nd|rd|th)"
_JOIN = r"(?:of|the|de|del|da|di|von|van|der|den|la|le|&)"
_CAP_SPAN = re.compile(rf"(?:{_ORDINAL}\s+)?{_CAP}(?:\s+(?:{_JOIN}\s+|{_NUM}\s+)*{_CAP})*")
_SENTENCE_END = ".!?:;"
_GLUED_SENTENCE = re.compile(r"(?<=[a-z]{2})\.(?=[A-Z][a-z])")  # "by William Corlett.Jennifer Saunders (born"
#: Years and large numbers ("1844", "10,445"): names of a kind for questions that ask "when" or "how many".
_NUMBER = re.compile(r"(?<![\w.,$])(?:\d{1,3}(?:,\d{3})+|\d{3,4})(?!\w|[.,]\d)")
NUMBER_LABEL = "NUMBER"
_POSSESSIVE_END = re.compile(r"(?<=\w)['\u2019]s?$")
_QUOTED = re.compile(r"\"([^\"\n]{1,100})\"|\u201c([^\u201c\u201d\n]{1,100})\u201d")
_MAX_TITLE_WORDS = 8


#: Words that open a reply and are never a name on their own ("Yes, they are both actors").
_REPLY_WORDS = frozenset({"yes", "yeah", "yep", "nope", "ok", "okay", "sure", "indeed", "correct", "true", "false"})


@cache
def stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS  # imported on first use: `import spacy` costs ~0.6 s

    return frozenset(STOP_WORDS) | _REPLY_WORDS


def _trim(words: list[str], stop: frozenset[str]) -> list[str]:
    while words and words[0].lower().strip(".'") in stop:
        words = words[1:]
    while words and words[-1].lower().strip(".'") in stop:
        words = words[:-1]
    return words


def _opens_sentence(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t\r\n\"'\u201c\u2018(":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


#: Abbreviations that end with a period inside a name ("Sammy Davis Jr. Award", "Warner Bros. Records").
_ABBREVIATIONS = frozenset(
    "jr sr st mr mrs ms dr co inc ltd corp bros gen col capt cpt lt sgt rev hon prof mt ft ave blvd rd"
    " dept univ assn est vol no vs jan feb mar apr jun jul aug sep sept oct nov dec".split())


def _ends_sentence(word: str) -> bool:
    stem = word[:-1]
    return word.endswith(".") and len(stem) >= 3 and "." not in stem and stem.lower() not in _ABBREVIATIONS


def _sentence_runs(words: list[str]) -> list[list[str]]:
    """Split a run at a word that ends a sentence ("Varda.", "One." but not "Jr.", "Inc." or "D.C.")."""
    runs, cur = [], []
    for w in words:
        cur.append(w)
        if _ends_sentence(w):
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def is_number(key: str) -> bool:
    return _NUMBER.fullmatch(key) is not None


def _title(quoted: str) -> str | None:
    """The quoted text as a title span, or None when it reads like a quoted sentence."""
    words = quoted.strip().rstrip(",.;:").split()
    if not words or len(words) > _MAX_TITLE_WORDS or not (words[0][0].isupper() or words[0][0].isdigit()):
        return None
    if any(sum(ch.isalpha() for ch in w) >= 4 and not w[0].isupper() for w in words):
        return None
    return " ".join(words)


def _quoted_titles(text: str) -> tuple[list[tuple[int, str]], str]:
    """(start, title) of quoted titles, and the text with them blanked out for the run rule."""
    titles: list[tuple[int, str]] = []

    def blank(m: re.Match) -> str:
        title = _title(m.group(1) or m.group(2))
        if title is None:
            return m.group(0)
        titles.append((m.start(), title))
        return " " * (m.end() - m.start())

    return titles, _QUOTED.sub(blank, text)  # one pass: a long document with many quotes stays linear


def candidate_spans(text: str, skip_sentence_initial: bool, numbers: bool = False) -> list[str]:
    """Capitalized runs that may name an entity, in order, unique; then numbers if asked for.

    skip_sentence_initial: a lone capitalized word opening a sentence ("Musician and ...") is
    usually not a name; pass False where it often is (a short answer: "Pretoria is ...").
    numbers: also years and large numbers; only for vocabularies that count them (`--rules`).
    """
    stop = stop_words()
    text = _GLUED_SENTENCE.sub(". ", text)  # concatenated sentences with no space: two runs, not one name
    found, text = _quoted_titles(text)
    for m in _CAP_SPAN.finditer(text):
        for n, raw in enumerate(_sentence_runs(m.group(0).split())):
            words = _trim(raw, stop)
            if words:  # "Weekly's" / "Creepers'" end a name but are not part of it
                words[-1] = _POSSESSIVE_END.sub("", words[-1])
            if not words or not words[-1]:
                continue
            opens = n > 0 or _opens_sentence(text, m.start())
            if len(words) == 1 and skip_sentence_initial and raw[0] == words[0] and opens:
                continue
            found.append((m.start(), " ".join(words).rstrip(".,")))
    spans = list(dict.fromkeys(span for _, span in sorted(found, key=lambda x: x[0]) if normalize_key(span)))
    if numbers:
        spans += [n for n in dict.fromkeys(m.group(0) for m in _NUMBER.finditer(text)) if n not in spans]
    return spans
