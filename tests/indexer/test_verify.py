import json
import shutil

import numpy as np
import pytest

from cooc.indexer.merge import MergeOptions
from cooc.indexer.store import file_sha256, manifest_checksum
from cooc.indexer.verify import verify_index
from tests.conftest import build


@pytest.fixture(scope="module")
def pruned_index(tmp_path_factory, corpus_files):
    """The golden documents with pairs in 1 document pruned to the sketch (the only index with a sketch)."""
    out = tmp_path_factory.mktemp("pruned") / "idx"
    build([corpus_files["jsonl"]], out, merge=MergeOptions(min_pair_docs=2, sketch_mb=1))
    return out


def copy(index, tmp_path):
    """A copy of the index and the directory of its current data files."""
    out = tmp_path / "idx"
    shutil.copytree(index, out, symlinks=True)
    return out / json.loads((out / "manifest.json").read_text())["data_dir"]


def rewrite(data, name, array) -> None:
    """Save an array and give the manifest its new checksum: a change behind valid checksums."""
    np.save(data / name, array)
    m = json.loads((data.parent / "manifest.json").read_text())
    m["files"][name] = {"bytes": (data / name).stat().st_size, "sha256": file_sha256(data / name)}
    m["manifest_sha256"] = manifest_checksum(m)
    (data.parent / "manifest.json").write_text(json.dumps(m))


def test_an_intact_index_verifies(golden_index, pruned_index):
    assert verify_index(golden_index) == [] and verify_index(pruned_index) == []
    m = json.loads((golden_index / "manifest.json").read_text())
    assert set(m["files"]) >= {"index.duckdb", "names.hash.npy", "names.docs.npy", "names.text.bin", "pairs.keys.npy"}
    assert "sketch.npy" not in m["files"]  # a complete exact table needs no sketch
    assert "sketch.npy" in json.loads((pruned_index / "manifest.json").read_text())["files"]


def test_a_changed_file_is_caught(pruned_index, tmp_path):
    data = copy(pruned_index, tmp_path)
    docs = np.load(data / "pairs.docs.npy")
    docs[0] += 1
    np.save(data / "pairs.docs.npy", docs)
    assert verify_index(data.parent) == ["pairs.docs.npy: checksum mismatch (the file changed after the build)"]
    (data / "sketch.npy").unlink()
    assert "sketch.npy: missing" in verify_index(data.parent)


def test_invariants_are_checked_behind_valid_checksums(pruned_index, tmp_path):
    data = copy(pruned_index, tmp_path)
    docs = np.load(data / "pairs.docs.npy")
    docs[0] = 99  # more documents than either name has
    rewrite(data, "pairs.docs.npy", docs)
    problems = verify_index(data.parent)
    assert any("more documents than one of their names" in p for p in problems)


def test_the_sketch_holds_only_pruned_totals(pruned_index, tmp_path):
    data = copy(pruned_index, tmp_path)
    table = np.load(data / "sketch.npy")
    row, col = np.argwhere(table == 1)[0]
    table[row, col] = 5  # min_pair_docs 2: a pruned pair has 1 document
    rewrite(data, "sketch.npy", table)
    assert verify_index(data.parent) == ["the sketch holds a count of 5, above the pruned pairs' largest possible 1"]
    table[row, col] = 0
    rewrite(data, "sketch.npy", table)
    assert verify_index(data.parent) == ["the sketch's fill differs from the manifest's"]


def test_name_invariants(golden_index, tmp_path):
    data = copy(golden_index, tmp_path)
    hashes = np.load(data / "names.hash.npy")
    rewrite(data, "names.hash.npy", hashes[::-1].copy())
    assert "name hashes are not sorted and unique" in verify_index(data.parent)
    data = copy(golden_index, tmp_path / "b")
    mentions = np.load(data / "names.mentions.npy")
    mentions[0] = 0
    rewrite(data, "names.mentions.npy", mentions)
    assert any("fewer mentions than documents" in p for p in verify_index(data.parent))


def test_the_duckdb_pair_table_copied_in_chunks_equals_the_arrays(tmp_path, corpus_files, monkeypatch):
    import cooc.indexer.store as store
    from cooc.indexer.duck import connect

    monkeypatch.setattr(store, "PAIR_CHUNK", 3)  # the golden corpus has more pairs than that: several INSERTs
    build([corpus_files["jsonl"]], tmp_path / "idx")
    data = tmp_path / "idx" / json.loads((tmp_path / "idx" / "manifest.json").read_text())["data_dir"]
    keys = np.load(data / "pairs.keys.npy")
    assert keys.size > 3 and verify_index(tmp_path / "idx") == []
    con = connect(data / "index.duckdb", read_only=True)
    rows = con.execute("SELECT key FROM pairs ORDER BY key").fetchnumpy()["key"]
    con.close()
    assert np.array_equal(rows, keys)
