"""`cooc stats --verify`: an index is what its manifest says, and its counts are consistent."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from .count import split_keys
from .sketch import CountMinSketch, SketchShape
from .store import DUCKDB_FILE, MANIFEST, SKETCH_FILE, data_dir, file_sha256, read_manifest
from .vocab import Vocabulary

SKETCH_SAMPLE = 100_000


def verify_index(path: Path) -> list[str]:
    """Every problem found (empty: the index is intact). Checks the files against the manifest's
    checksums, then the invariants: pair keys sorted and unique with a < b, 1 <= pair documents <=
    the documents of either entity, array and table sizes agree, the sketch never below the exact
    count (on a sample), and the entity counts below the corpus size."""
    m = read_manifest(Path(path))
    path = data_dir(Path(path), m)
    problems: list[str] = []
    listed = m.get("files")
    if not listed:
        return [f"{path / MANIFEST}: lists no file checksums (written by an older cooc); rebuild to verify"]
    for name, meta in listed.items():
        f = path / name
        if not f.is_file():
            problems.append(f"{name}: missing")
        elif f.stat().st_size != meta["bytes"] or file_sha256(f) != meta["sha256"]:
            problems.append(f"{name}: checksum mismatch (the file changed after the build)")
    if problems:
        return problems
    vocab = Vocabulary.load(path / "vocab.jsonl")
    ent_docs = np.load(path / "entities.docs.npy")
    keys = np.load(path / "pairs.keys.npy")
    docs = np.load(path / "pairs.docs.npy")
    n_docs = int(m["corpus"]["documents"])
    if ent_docs.shape[0] != len(vocab.entities):
        problems.append(f"entities.docs.npy has {ent_docs.shape[0]} rows for {len(vocab.entities)} entities")
    if ent_docs.size and (ent_docs.min() < 0 or ent_docs.max() > n_docs):
        problems.append("an entity is counted in fewer than 0 or more than all documents")
    if keys.shape != docs.shape:
        problems.append("pairs.keys.npy and pairs.docs.npy differ in length")
        return problems
    if keys.size > 1 and not np.all(keys[1:] > keys[:-1]):
        problems.append("pair keys are not sorted and unique")
    a, b = split_keys(keys)
    if keys.size and not np.all(a < b):
        problems.append(f"{int((a >= b).sum())} pairs do not have a < b")
    elif keys.size:
        if int(b.max()) >= ent_docs.shape[0]:
            problems.append("a pair refers to an entity id outside the vocabulary")
        else:
            bound = np.minimum(ent_docs[a], ent_docs[b])
            bad = int(((docs < 1) | (docs > bound)).sum())
            if bad:
                problems.append(f"{bad} pairs have more documents than one of their entities (or none)")
    con = duckdb.connect(str(path / DUCKDB_FILE), read_only=True)
    try:
        n_rows = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
        n_ent = con.execute("SELECT count(*) FROM entities").fetchone()[0]
    finally:
        con.close()
    if n_rows != keys.size or n_ent != len(vocab.entities):
        problems.append(f"index.duckdb holds {n_rows} pairs / {n_ent} entities, the arrays {keys.size} / "
                        f"{len(vocab.entities)}")
    if "sketch" in m and (path / SKETCH_FILE).is_file() and keys.size:
        sk = CountMinSketch.load(path / SKETCH_FILE, SketchShape.from_dict(m["sketch"]))
        idx = np.random.default_rng(0).choice(keys.size, min(keys.size, SKETCH_SAMPLE), replace=False)
        under = int((sk.query(keys[idx]) < docs[idx]).sum())
        if under:
            problems.append(f"the sketch reads below the exact count for {under} of {idx.size} sampled pairs")
    return problems
