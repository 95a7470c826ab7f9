import json
import shutil

import numpy as np

from cooc.indexer.store import file_sha256
from cooc.indexer.verify import verify_index


def copy(golden_index, tmp_path):
    """A copy of the index and the directory of its current data files."""
    out = tmp_path / "idx"
    shutil.copytree(golden_index, out)
    return out / json.loads((out / "manifest.json").read_text())["data_dir"]


def test_an_intact_index_verifies(golden_index):
    assert verify_index(golden_index) == []
    m = json.loads((golden_index / "manifest.json").read_text())
    assert set(m["files"]) >= {"index.duckdb", "pairs.keys.npy", "sketch.npy", "vocab.jsonl"}


def test_a_changed_file_is_caught(golden_index, tmp_path):
    idx = copy(golden_index, tmp_path)
    docs = np.load(idx / "pairs.docs.npy")
    docs[0] += 1
    np.save(idx / "pairs.docs.npy", docs)
    assert verify_index(idx.parent) == ["pairs.docs.npy: checksum mismatch (the file changed after the build)"]
    (idx / "sketch.npy").unlink()
    assert "sketch.npy: missing" in verify_index(idx.parent)


def test_invariants_are_checked_behind_valid_checksums(golden_index, tmp_path):
    idx = copy(golden_index, tmp_path)
    docs = np.load(idx / "pairs.docs.npy")
    docs[0] = 99  # more documents than either entity has
    np.save(idx / "pairs.docs.npy", docs)
    m = json.loads((idx.parent / "manifest.json").read_text())
    m["files"]["pairs.docs.npy"] = {"bytes": (idx / "pairs.docs.npy").stat().st_size,
                                    "sha256": file_sha256(idx / "pairs.docs.npy")}
    (idx.parent / "manifest.json").write_text(json.dumps(m))
    problems = verify_index(idx.parent)
    assert any("more documents than one of their entities" in p for p in problems)
    assert any("sketch reads below the exact count" in p for p in problems)
