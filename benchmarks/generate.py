"""Deterministic synthetic corpus: real sentences, real names in a Zipfian mix.

    python -m benchmarks.generate SOURCE... --gb 2 -o OUT_DIR [--names NAMES.txt]

Sentences are cut from the source corpus. Names: one per line from --names (a gazetteer's
names, say), or by default every name the reference rule (`cooc.indexer.spans.candidate_spans`,
no numbers) finds in the first --sample-docs documents (first 2,000 characters each) of the sources that it finds at least
twice, most frequent first. Each sentence is followed by 0-2 names drawn with probability
proportional to 1 / rank**a ("..., with Marie Curie and Paris."), so frequent and long-tail
names and their pairs occur as in real text, as names the rule finds. Output: .jsonl.zst shards
of about --shard-mb MB of text each. The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zstandard

from cooc.indexer.read import ReadOptions, ReadStats, read_file, resolve_inputs
from cooc.indexer.spans import candidate_spans

_SENT = re.compile(r"(?<=[.!?])\s+")


def source_texts(sources: list[str]):
    """Documents of the sources, files taken in turn (so a sample mixes them)."""
    streams = [(b.texts for b in read_file(p, ReadOptions(), ReadStats())) for p in resolve_inputs(sources)]
    streams = [iter(t for batch in s for t in batch) for s in streams]
    while streams:
        for it in list(streams):
            text = next(it, None)
            if text is None:
                streams.remove(it)
            else:
                yield text


def sentence_pool(sources: list[str], limit: int = 400_000) -> list[str]:
    pool: list[str] = []
    for text in source_texts(sources):
        pool.extend(s.strip() for s in _SENT.split(text) if 40 <= len(s.strip()) <= 400)
        if len(pool) >= limit:
            break
    return pool[:limit]


def corpus_names(sources: list[str], sample_docs: int = 3000, min_count: int = 2, doc_chars: int = 2000) -> list[str]:
    """Names the reference rule finds in the first `sample_docs` documents (each cut to its sentences
    within the first `doc_chars` characters: the rule in Python reads ~0.5 MB/s), most frequent first."""
    counts: Counter[str] = Counter()
    for i, text in enumerate(source_texts(sources)):
        if i >= sample_docs:
            break
        if len(text) > doc_chars:
            cut = max(text.rfind(". ", 0, doc_chars), text.rfind("\n", 0, doc_chars))
            text = text[: cut + 1] if cut > 0 else text[:doc_chars]
        counts.update(candidate_spans(text, skip_sentence_initial=True, numbers=False))
    return [n for n, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]


def read_names(path: Path) -> list[str]:
    """One name per line (a TSV gazetteer's first column); blank lines and '#' comments skipped."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("\t", 1)[0].strip()
        if name and not name.startswith("#"):
            out.append(name)
    return list(dict.fromkeys(out))


def generate(sources: list[str], out: Path, gb: float, names: list[str] | None = None, shard_mb: float = 256,
             seed: int = 0, zipf_a: float = 1.1, sample_docs: int = 3000) -> list[Path]:
    """Write about `gb` GB of text as gen-NNNN.jsonl.zst shards under `out`; returns the shard paths."""
    rng = np.random.default_rng(seed)
    pool = sentence_pool(sources)
    if not pool:
        raise ValueError(f"no sentences of 40-400 characters in {sources}")
    names = list(names) if names is not None else corpus_names(sources, sample_docs)
    if not names:
        raise ValueError("no names to mix in")
    weights = 1.0 / np.arange(1, len(names) + 1) ** zipf_a
    weights /= weights.sum()

    def batch() -> list[str]:  # 256 documents
        n_sent = rng.integers(3, 25, 256)
        sents = rng.integers(0, len(pool), int(n_sent.sum()))
        n_names = rng.integers(0, 3, sents.size)
        picks = rng.choice(len(names), int(n_names.sum()), p=weights)
        texts, s, k = [], 0, 0
        for d in range(256):
            parts = []
            for _ in range(n_sent[d]):
                sent, m = pool[sents[s]], n_names[s]
                if m:
                    sent = f"{sent.rstrip('.!?')}, with {' and '.join(names[p] for p in picks[k : k + m])}."
                    k += m
                parts.append(sent)
                s += 1
            texts.append(" ".join(parts))
        return texts

    return write_shards(out, "gen", gb, shard_mb, batch)[0]


def write_shards(out: Path, prefix: str, gb: float, shard_mb: float,
                 batch: Callable[[], list[str]]) -> tuple[list[Path], int, int]:
    """PREFIX-NNNN.jsonl.zst shards of about `shard_mb` MB of text each, until `gb` GB, from `batch()`
    (a few documents per call); returns the shards, the bytes of text and the documents written."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{prefix}-*.jsonl.zst"):
        old.unlink()
    target, written, doc_id = int(gb * 1e9), 0, 0
    shards: list[Path] = []
    while written < target:
        path = out / f"{prefix}-{len(shards):04d}.jsonl.zst"
        shard_bytes = 0
        with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as fh:
            while shard_bytes < shard_mb * 1e6 and written + shard_bytes < target:
                lines = []
                for text in batch():
                    lines.append(json.dumps({"id": f"{prefix}-{doc_id}", "text": text}, ensure_ascii=False))
                    shard_bytes += len(text.encode())
                    doc_id += 1
                fh.write(("\n".join(lines) + "\n").encode())
        written += shard_bytes
        shards.append(path)
    return shards, written, doc_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="+")
    ap.add_argument("--names", type=Path, default=None, help="one name per line (default: the rule's names of a sample)")
    ap.add_argument("--sample-docs", type=int, default=3000, help="documents the default name list is taken from")
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--shard-mb", type=float, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--zipf", type=float, default=1.1)
    ap.add_argument("-o", "--output", type=Path, required=True)
    a = ap.parse_args()
    names = read_names(a.names) if a.names else None
    shards = generate(a.sources, a.output, a.gb, names, a.shard_mb, a.seed, a.zipf, a.sample_docs)
    print(f"wrote {len(shards)} shards to {a.output}")


if __name__ == "__main__":
    main()
