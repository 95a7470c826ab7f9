""""Did you mean": names the index holds that are spelled like one it does not.

Fuzzy matching (rapidfuzz's Levenshtein ratio on lowercased, punctuation-stripped text) over
every name of the index; the choices are decoded once per Index, only when a name is missed,
so a lookup of a known name never pays for them. Among close spellings the more often
written name comes first.
"""

from __future__ import annotations

import numpy as np

from .index import Index

#: a suggestion must score at least this (0-100) against the query
MIN_SIMILARITY = 75.0


def _choices(index: Index) -> list[str]:
    cached = getattr(index, "_suggest_choices", None)
    if cached is None:
        text = index._text.tobytes()
        off = index._offsets
        cached = [text[off[i] : off[i + 1]].decode("utf-8", "surrogatepass") for i in range(index.n_names)]
        index._suggest_choices = cached
    return cached


def did_you_mean(index: Index, text: str, n: int = 3, min_similarity: float = MIN_SIMILARITY) -> list[str]:
    """Up to n names of the index spelled like `text`, closest (then most written) first; [] when none is close."""
    from rapidfuzz import fuzz, process, utils

    if not text.strip() or not index.n_names:
        return []
    hits = process.extract(text, _choices(index), scorer=fuzz.ratio, processor=utils.default_process,
                           limit=max(n * 10, 20), score_cutoff=min_similarity)
    docs = np.asarray(index._docs)
    ranked = sorted(hits, key=lambda h: (-round(h[1]), -int(docs[h[2]]), h[2]))
    out: list[str] = []
    for name, _score, _i in ranked:
        if name not in out and name.casefold() != text.strip().casefold():
            out.append(name)
        if len(out) == n:
            break
    return out
