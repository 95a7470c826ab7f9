"""Damaged index files (#17.5): a one-line IndexFormatError naming the file at open, never a traceback
or a silently wrong answer; scoring never takes logs of impossible counts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from cooc.cli.main import cli
from cooc.indexer.errors import IndexFormatError
from cooc.indexer.merge import MergeOptions
from cooc.indexer.verify import verify_index
from cooc.scorer import Index, Scorer
from tests.scorer.corpus import build


@pytest.fixture
def damaged(tmp_path, scorer_index_dir):
    """A private copy of the scorer index, and its generation directory."""
    out = tmp_path / "idx"
    shutil.copytree(scorer_index_dir, out, symlinks=True)
    return out, out / json.loads((out / "manifest.json").read_text())["data_dir"]


def edit_manifest(out, change) -> None:
    m = json.loads((out / "manifest.json").read_text())
    change(m)
    (out / "manifest.json").write_text(json.dumps(m))


def truncate(f):
    f.write_bytes(f.read_bytes()[:-5])


def flip_header(f):
    data = bytearray(f.read_bytes())
    data[20] ^= 0x55  # inside the header's dict literal
    f.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, message", [
    (truncate, "not a readable .npy array"),  # once ValueError: mmap length is greater than file size
    (flip_header, "not a readable .npy array"),
    (lambda f: f.write_bytes(b""), "not a readable .npy array"),  # once "Aborted!" in the CLI
    (lambda f: np.save(f, np.zeros(3, np.float32)), "expected int64"),
    (lambda f: np.save(f, np.zeros(1, np.int64)), "rows, the name table has"),
    (lambda f: f.unlink(), "missing"),
])
def test_a_damaged_array_is_one_error_naming_the_file(damaged, damage, message):
    out, gen = damaged
    damage(gen / "names.docs.npy")
    with pytest.raises(IndexFormatError, match=f"names.docs.npy: .*{message}"):
        Index.open(out)
    result = CliRunner().invoke(cli, ["score", "-i", str(out), "Who founded Microsoft?"])
    assert result.exit_code != 0 and "names.docs.npy" in result.output and "Traceback" not in result.output


def test_impossible_counts_never_reach_a_log(damaged):
    """Once `math domain error` in score for docs = -1."""
    out, gen = damaged
    docs = np.load(gen / "names.docs.npy")
    np.save(gen / "names.docs.npy", np.full_like(docs, -1))
    report = Scorer(Index.open(out)).score("Who founded Microsoft?", "Bill Gates")
    assert 0.0 <= report.risk <= 1.0 and all(e.docs == 0 for e in report.entities)
    assert any("checksum mismatch" in p for p in verify_index(out))


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("corpus"), "no 'corpus.documents'"),  # once KeyError, in --verify too
    (lambda m: m.update(format_version="1"), "format_version '1' is not a whole number"),  # once "v1 is newer"
    (lambda m: m["corpus"].update(documents=-1), "'corpus.documents' is -1, not a count"),
    (lambda m: m["config"]["names"].pop("max_tokens"), "no 'config.names.max_tokens'"),
    (lambda m: m["corpus"].update(documents=2_000_000), "does not match its checksum"),  # once silent
])
def test_a_damaged_manifest_is_one_error(damaged, change, message):
    out, _ = damaged
    edit_manifest(out, change)
    with pytest.raises(IndexFormatError, match=message):
        Index.open(out)
    with pytest.raises(IndexFormatError, match=message):
        verify_index(out)


def test_a_non_numeric_sketch_seed_is_one_error(tmp_path, scorer_docs):
    out = build(scorer_docs, tmp_path / "idx", merge=MergeOptions(min_pair_docs=2))
    edit_manifest(out, lambda m: m["sketch"].update(seeds=["x"] * len(m["sketch"]["seeds"])))
    with pytest.raises(IndexFormatError, match="'sketch' is damaged"):
        Index.open(out)


def test_an_intact_index_verifies_with_its_manifest_checksum(scorer_index_dir):
    assert verify_index(scorer_index_dir) == []
    assert "manifest_sha256" in json.loads((scorer_index_dir / "manifest.json").read_text())
