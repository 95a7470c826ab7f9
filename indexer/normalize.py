"""Text and entity-key normalization, shared by the build and the query side.

Index keys and query keys must be equal by construction, so there is exactly one
normalization for each: `normalize_text` for running text fed to the matcher and
`normalize_key` for entity names and aliases. `normalize_key` applies everything
`normalize_text` does plus key-only cleanup (possessive, leading article, edge
punctuation), and both are idempotent.
"""

from __future__ import annotations

import re
import unicodedata

#: Bump when either function or the matcher's tokenization changes: indexes and parts record it,
#: and parts of different versions are never merged or reused.
NORMALIZATION_VERSION = 2

_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
        "\u00a0": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u3000": " ",
        "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": "",
    }
)

_POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s?$")
_LEADING_THE = re.compile(r"^the\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")


def utf8(text: str) -> bytes:
    """UTF-8 bytes of any str, lone surrogates (JSON can carry "\\ud800") included.

    Strict encoding is the fast path (the "surrogatepass" handler makes every call ~5x slower
    even when nothing needs it); the handler runs only for the rare text that needs it.
    """
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def normalize_text(text: str) -> str:
    """Fold running text for matching: NFKC, casefold, curly quotes and dashes to ASCII.

    Pure-ASCII text (the common case) only needs lowercasing, which is much cheaper.
    """
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)


def strip_possessive(text: str) -> str:
    """ "Paris's" and "Jesus'" without the possessive: the one possessive rule keys and surface forms share."""
    return _POSSESSIVE.sub("", text)


def normalize_key(name: str) -> str:
    """Canonical form of an entity name or alias ("The Beatles'" -> "beatles").

    Returns "" for names with nothing matchable left (callers drop those).
    """
    if name.isascii() and name[:1].isalnum() and name[-1:].isalnum() and name[:4].lower() != "the " \
            and "'" not in name[-2:] and " ".join(name.split()) == name:
        return name.lower()  # a clean ASCII name, as most are (the rule trims names): nothing else to do
    key = _SPACES.sub(" ", normalize_text(name)).strip()
    previous = None
    while key != previous:  # iterate to a fixed point so the function is idempotent
        previous = key
        key = _EDGE_PUNCT.sub("", key)
        key = strip_possessive(key)
        key = _LEADING_THE.sub("", key).strip()
    return key
