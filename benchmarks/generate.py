"""Deterministic synthetic corpus: real sentences, real entity names in a Zipfian mix.

    python -m benchmarks.generate SOURCE... --vocab VOCAB.jsonl --gb 2 -o OUT_DIR

Sentences are cut from the source corpus; each sentence is prefixed with 0-2
entity names drawn with probability proportional to 1 / rank**a from the
vocabulary's display names (shuffled by the seed), so frequent and long-tail
entities and their pairs appear as in real text. Output: .jsonl.zst shards of
about --shard-mb MB of text each. The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import zstandard

from cooc.indexer.read import ReadOptions, ReadStats, read_file, resolve_inputs
from cooc.indexer.vocab import Vocabulary

_SENT = re.compile(r"(?<=[.!?])\s+")


def sentence_pool(sources: list[str], limit: int = 400_000) -> list[str]:
    pool: list[str] = []
    for path in resolve_inputs(sources):
        for batch in read_file(path, ReadOptions(), ReadStats()):
            for text in batch.texts:
                pool.extend(s for s in _SENT.split(text) if 40 <= len(s) <= 400)
                if len(pool) >= limit:
                    return pool
    return pool


def generate(sources: list[str], vocab_path: Path, out: Path, gb: float, shard_mb: int = 256, seed: int = 0,
             zipf_a: float = 1.1) -> list[Path]:
    rng = np.random.default_rng(seed)
    pool = sentence_pool(sources)
    names = [e.name for e in Vocabulary.load(vocab_path).entities]
    names = [names[i] for i in rng.permutation(len(names))]
    weights = 1.0 / np.arange(1, len(names) + 1) ** zipf_a
    weights /= weights.sum()
    out.mkdir(parents=True, exist_ok=True)
    target = int(gb * 1e9)
    written = 0
    shards: list[Path] = []
    doc_id = 0
    while written < target:
        path = out / f"gen-{len(shards):04d}.jsonl.zst"
        shard_bytes = 0
        with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as fh:
            while shard_bytes < shard_mb * 1e6 and written + shard_bytes < target:
                n_docs = 256
                n_sent = rng.integers(3, 25, n_docs)
                sents = rng.integers(0, len(pool), int(n_sent.sum()))
                n_names = rng.integers(0, 3, int(n_sent.sum()))
                picks = rng.choice(len(names), int(n_names.sum()), p=weights)
                lines = []
                s = k = 0
                for d in range(n_docs):
                    parts = []
                    for _ in range(n_sent[d]):
                        prefix = " ".join(names[p] for p in picks[k : k + n_names[s]])
                        k += n_names[s]
                        parts.append(f"{prefix} {pool[sents[s]]}" if prefix else pool[sents[s]])
                        s += 1
                    text = " ".join(parts)
                    lines.append(json.dumps({"id": f"gen-{doc_id}", "text": text}, ensure_ascii=False))
                    shard_bytes += len(text.encode())
                    doc_id += 1
                fh.write(("\n".join(lines) + "\n").encode())
        written += shard_bytes
        shards.append(path)
    return shards


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="+")
    ap.add_argument("--vocab", type=Path, required=True)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--shard-mb", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, required=True)
    a = ap.parse_args()
    shards = generate(a.sources, a.vocab, a.output, a.gb, a.shard_mb, a.seed)
    print(f"wrote {len(shards)} shards to {a.output}")


if __name__ == "__main__":
    main()
