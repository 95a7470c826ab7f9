"""`cooc stats --verify`: an index is what its manifest says, and its counts are consistent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .count import split_keys
from .duck import connect
from .layout import DUCKDB_FILE, EVIDENCE_DIR, MANIFEST, SKETCH_FILE, load_arrays
from .sketch import CountMinSketch, SketchShape
from .store import MANIFEST_CHECKSUM, data_dir, file_sha256, read_manifest


def _checksums(path: Path, m: dict) -> list[str]:
    listed = m.get("files")
    if not listed:
        return [f"{path / MANIFEST}: lists no file checksums (written by an older cooc); rebuild to verify"]
    problems = [] if MANIFEST_CHECKSUM in m else [
        f"{MANIFEST}: has no checksum of its own content (written by an older cooc); rebuild to verify it"]
    for name, meta in listed.items():
        f = path / name
        if not f.is_file():
            problems.append(f"{name}: missing")
        elif f.stat().st_size != meta["bytes"] or file_sha256(f) != meta["sha256"]:
            problems.append(f"{name}: checksum mismatch (the file changed after the build)")
    return problems


def _names(a: dict, n_docs: int) -> list[str]:
    problems = []
    n = a["hash"].shape[0]
    if any(a[k].shape[0] != n for k in ("check", "docs", "mentions", "lower", "flags", "label")) \
            or a["offsets"].shape[0] != n + 1:
        problems.append("the name arrays differ in length")
    if n > 1 and not np.all(a["hash"][1:] > a["hash"][:-1]):
        problems.append("name hashes are not sorted and unique")
    if n and (a["docs"].min() < 1 or a["docs"].max() > n_docs or np.any(a["mentions"] < a["docs"])):
        problems.append("a name is counted in no document, in more than all, or with fewer mentions than documents")
    return problems


def _pairs(a: dict) -> list[str]:
    keys, docs, ent_docs = a["pair_keys"], a["pair_docs"], a["docs"]
    if keys.shape != docs.shape:
        return ["pairs.keys.npy and pairs.docs.npy differ in length"]
    problems = []
    if keys.size > 1 and not np.all(keys[1:] > keys[:-1]):
        problems.append("pair keys are not sorted and unique")
    lo, hi = split_keys(keys)
    if keys.size and not np.all(lo < hi):
        problems.append(f"{int((lo >= hi).sum())} pairs do not have a < b")
    elif keys.size and int(hi.max()) >= ent_docs.shape[0]:
        problems.append("a pair refers to a name id outside the name table")
    elif keys.size:
        bad = int(((docs < 1) | (docs > np.minimum(ent_docs[lo], ent_docs[hi]))).sum())
        if bad:
            problems.append(f"{bad} pairs have more documents than one of their names (or none)")
    return problems


def _duckdb(path: Path, a: dict) -> list[str]:
    con = connect(path / DUCKDB_FILE, read_only=True)
    try:
        n_pairs = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
        n_names = con.execute("SELECT count(*) FROM names").fetchone()[0]
    finally:
        con.close()
    if n_pairs != a["pair_keys"].size or n_names != a["hash"].size:
        return [f"index.duckdb holds {n_pairs} pairs / {n_names} names, the arrays {a['pair_keys'].size} / "
                f"{a['hash'].size}"]
    return []


def _sketch(path: Path, m: dict) -> list[str]:
    """The sketch holds only the pairs pruned from the exact table: no cell above min_pair_docs - 1, and
    each row as full as the manifest says (a sketch of other pairs, or a damaged one, fails either)."""
    if "sketch" not in m or not (path / SKETCH_FILE).is_file():
        return []
    sk = CountMinSketch.load(path / SKETCH_FILE, SketchShape.from_dict(m["sketch"]))
    limit = int(m["config"]["min_pair_docs"]) - 1
    problems = [f"the sketch holds a count of {int(sk.table.max())}, above the pruned pairs' largest "
                f"possible {limit}"] if sk.table.size and int(sk.table.max()) > limit else []
    if [round(f, 9) for f in sk.fill()] != [round(f, 9) for f in m["sketch"]["fill"]]:
        problems.append("the sketch's fill differs from the manifest's")
    return problems


def _evidence(path: Path, m: dict) -> list[str]:
    """The evidence store holds one document per counted document, and every segment file it lists."""
    if not m.get("evidence"):
        return []
    store = path / EVIDENCE_DIR
    try:
        segments = json.loads((store / "meta.json").read_text(encoding="utf-8"))["segments"]
    except (OSError, ValueError, KeyError):
        return [f"{EVIDENCE_DIR}/meta.json: missing or unreadable (rebuild the index)"]
    missing = [s["segment_id"] for s in segments if not any(store.glob(s["segment_id"].replace("-", "") + ".*"))]
    docs = sum(s["max_doc"] for s in segments)
    problems = [f"{EVIDENCE_DIR}: segment {missing[0]} has no files"] if missing else []
    if docs != int(m["corpus"]["documents"]):
        problems.append(f"{EVIDENCE_DIR}: holds {docs} documents, the counts {m['corpus']['documents']}")
    return problems


def verify_index(path: Path) -> list[str]:
    """Every problem found (empty: the index is intact). Checks the files against the manifest's
    checksums, then the invariants: names sorted by hash and counted in 1..N documents, pair keys
    sorted and unique with a < b, 1 <= pair documents <= the documents of either name, arrays and
    DuckDB tables agree, the sketch holds only pruned totals, and the evidence store
    holds every segment it lists and as many documents as the counts."""
    m = read_manifest(Path(path))
    path = data_dir(Path(path), m)
    problems = _checksums(path, m)
    if problems:
        return problems
    a = load_arrays(path)
    problems = _names(a, int(m["corpus"]["documents"])) + _pairs(a)
    return problems + _duckdb(path, a) + _sketch(path, m) + _evidence(path, m)
