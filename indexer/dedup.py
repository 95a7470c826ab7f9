"""Duplicate documents, so mirrored copies do not inflate co-occurrence counts.

`exact`: same text after normalization and whitespace collapsing (a 128-bit hash).
`near`: additionally, documents whose word-trigram sets have an estimated Jaccard
similarity >= threshold with an earlier document (datasketch MinHash LSH).
The first occurrence in sorted file order is kept, so the plan is deterministic.
It is made in one read pass over the files of a build, before counting.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .normalize import normalize_text
from .read import ReadOptions, ReadStats, read_file

DEDUP_MODES = ("exact", "near")
_WORDS = re.compile(r"\w+")


@dataclass
class DedupPlan:
    drop: dict[str, set[int]] = field(default_factory=dict)  # str(path) -> ordinals of documents to drop
    exact: int = 0
    near: int = 0


def _shingles(words: list[str], n: int = 3) -> set[bytes]:
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


def plan_dedup(files: Sequence[Path], read: ReadOptions, mode: str, threshold: float = 0.8,
               num_perm: int = 64, progress: bool = False) -> DedupPlan:
    if mode not in DEDUP_MODES:
        raise ValueError(f"dedup must be one of {', '.join(DEDUP_MODES)}")
    plan = DedupPlan()
    seen: set[bytes] = set()
    lsh = None
    if mode == "near":
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    bar = tqdm(total=sum(p.stat().st_size for p in files), unit="B", unit_scale=True, desc="dedup",
               disable=not progress, dynamic_ncols=True, delay=1.0)
    for path in files:
        drop: set[int] = set()
        ordinal = 0
        for batch in read_file(path, read, ReadStats()):
            for text in batch.texts:
                norm = normalize_text(text)
                words = _WORDS.findall(norm)
                digest = hashlib.blake2b(" ".join(words).encode(), digest_size=16).digest()
                if digest in seen:
                    drop.add(ordinal)
                    plan.exact += 1
                else:
                    seen.add(digest)
                    if lsh is not None:
                        mh = MinHash(num_perm=num_perm)
                        mh.update_batch(list(_shingles(words)))
                        if lsh.query(mh):
                            drop.add(ordinal)
                            plan.near += 1
                        else:
                            lsh.insert(f"{path}:{ordinal}", mh)
                ordinal += 1
        if drop:
            plan.drop[str(path)] = drop
        bar.update(path.stat().st_size)
        bar.set_postfix(duplicates=f"{plan.exact + plan.near:,}")
    bar.close()
    return plan
