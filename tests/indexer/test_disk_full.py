"""Disk full while writing: the previous state stays intact, the error says so, a rerun finishes.

A real write failure, not a mock: the build runs in a subprocess whose file-size limit
(RLIMIT_FSIZE, with SIGXFSZ ignored) makes every write past the limit fail with EFBIG, as a
full disk fails with ENOSPC.
"""

import json
import random
import resource
import signal

import pytest

from cooc.scorer import Index
from tests.helpers import run_cooc

pytestmark = pytest.mark.slow  # real subprocesses or a Ray runtime: `pytest -m "not slow"` skips them

LIMIT = 400_000  # bytes per file: the small shard's part fits, the big shard's pairs do not


def cooc(*args, limit: int | None = None):
    def cap():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return run_cooc(*args, preexec_fn=cap if limit else None)


@pytest.fixture
def corpus(tmp_path):
    names = [f"Name{i:04d}" for i in range(3000)]  # capitalized words: names of the default build
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_text(json.dumps({"text": "Name0001 met Name0002."}) + "\n")
    rnd = random.Random(0)
    # ", " between names: each is a name of its own (the first opens the sentence and is skipped)
    (shards / "b.jsonl").write_text("".join(json.dumps({"text": ", ".join(rnd.sample(names, 40))}) + "\n"
                                            for _ in range(500)))  # ~370,000 distinct pairs
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": ", ".join(rnd.sample(names, 40))}) + "\n"
                                              for _ in range(20)))  # ~15,000 distinct pairs
    # --min-pair-docs 2: the index has a 1 MiB sketch (built only when pairs are pruned)
    return shards, ["--window", "doc", "--workers", "1", "--sketch-mb", "1", "--min-pair-docs", "2", "-q"]


def test_disk_full_while_writing_a_part_keeps_finished_shards(tmp_path, corpus):
    shards, common = corpus
    out = tmp_path / "idx"
    r = cooc("build", shards, "-o", out, *common, limit=LIMIT)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "b.jsonl" in r.stderr and "is the disk full?" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    parts = out / "parts"
    done = sorted(p.name.split("-")[0] for p in parts.glob("*.done.json"))
    assert done == ["a.jsonl"] and not list(parts.glob(".*tmp*")) and not (out / "manifest.json").exists()

    r = cooc("build", shards, "-o", out, *common)  # space again: counts only b, then merges
    assert r.returncode == 0, r.stderr
    ref = tmp_path / "ref"
    assert cooc("build", shards, "-o", ref, *common).returncode == 0
    a, b = Index.open(out), Index.open(ref)
    assert a.manifest["counts"] == b.manifest["counts"]
    assert (a._pair_keys[:] == b._pair_keys[:]).all() and (a._pair_docs[:] == b._pair_docs[:]).all()


def test_disk_full_while_writing_the_index_keeps_the_previous_index(tmp_path, corpus):
    shards, common = corpus
    out = tmp_path / "idx"
    assert cooc("build", shards / "a.jsonl", "-o", out, *common).returncode == 0
    before = Index.open(out).manifest

    # the new build's parts fit, but the 1 MiB sketch does not: the old index must survive
    r = cooc("build", shards / "a.jsonl", tmp_path / "c.jsonl", "-o", out, *common, "--force", limit=900_000)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "is the disk full?" in r.stderr
    assert "untouched" in r.stderr
    after = Index.open(out)
    assert after.manifest == before and not list(out.glob(".staging-*"))
    assert cooc("stats", "-i", out, "--verify").returncode == 0
