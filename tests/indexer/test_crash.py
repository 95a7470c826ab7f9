"""A build killed with SIGKILL part-way loses no finished shard and reruns only the rest."""

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DOCS, write_jsonl
from tests.helpers import cooc_argv as cooc

pytestmark = pytest.mark.slow  # real subprocesses or a Ray runtime: `pytest -m "not slow"` skips them

N_SHARDS = 24


def test_sigkill_then_rerun_equals_uninterrupted_build(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(N_SHARDS):
        write_jsonl(shards / f"s{i:02d}.jsonl", DOCS[i % len(DOCS) :] * 800)
    # the default build (every name, no vocabulary); pairs in fewer than 10,000 documents pruned to the sketch,
    # so that it is compared too
    common = ["--window", "10", "--workers", "1", "--sketch-mb", "1", "--min-pair-docs", "10000"]
    subprocess.run(cooc("build", shards, "-o", tmp_path / "ref", "-q", *common), check=True)

    out = tmp_path / "killed"
    proc = subprocess.Popen(cooc("build", shards, "-o", out, "-q", *common), start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("*.done.json"))) < 3:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "parts").glob("*.done.json")}
    assert 3 <= len(done_before) < N_SHARDS, "the build finished before it could be killed"
    assert not (out / "manifest.json").exists()

    rerun = subprocess.run(cooc("build", shards, "-o", out, *common), capture_output=True, text=True, check=True)
    assert f"counted {N_SHARDS - len(done_before)} of {N_SHARDS} shards" in rerun.stdout
    for name, mtime in done_before.items():  # finished parts were not redone
        assert (out / "parts" / name).stat().st_mtime_ns == mtime
    for f in ("names.hash.npy", "names.docs.npy", "names.mentions.npy", "names.lower.npy", "names.flags.npy",
              "pairs.keys.npy", "pairs.docs.npy", "sketch.npy"):
        assert np.array_equal(np.load(tmp_path / "ref" / f), np.load(out / f)), f


def test_sigkill_during_merge_leaves_the_old_or_the_new_index(tmp_path):
    import random

    from cooc.indexer.verify import verify_index
    from cooc.scorer import Index

    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(12):
        write_jsonl(shards / f"s{i:02d}.jsonl", DOCS[i % len(DOCS) :] * 400 + [("x", f"from Paris to Seattle in {1000 + i}")])
    out = tmp_path / "idx"
    common = ["--window", "10", "--workers", "1", "--sketch-mb", "8"]
    subprocess.run(cooc("build", shards, "-o", out, "-q", *common), check=True)

    def state() -> int:
        return Index.open(out).manifest["config"]["min_pair_docs"]  # always opens: old or new

    rng = random.Random(7)
    interrupted = 0
    for trial in range(8):  # the first kill lands at 0.2 s, long before a merge can publish
        target = 2000 if trial % 2 == 0 else 1  # every trial switches the index to the other state
        before = state()
        proc = subprocess.Popen(cooc("merge", out, "-o", out, "--force", "--min-pair-docs", target,
                                     "--sketch-mb", "16", "-q"), start_new_session=True)
        time.sleep(0.2 if trial == 0 else rng.uniform(0.2, 4.0))  # a merge takes ~3.5 s: kills land before and after
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        after = state()
        assert after in (before, target) and verify_index(out) == []
        interrupted += after == before
    merge_cmd = cooc("merge", out, "-o", out, "--force", "--min-pair-docs", "2000", "--sketch-mb", "16", "-q")
    subprocess.run(merge_cmd, check=True)
    final = Index.open(out).manifest
    assert final["config"]["min_pair_docs"] == 2000 and verify_index(out) == []
    assert len([p for p in out.iterdir() if p.name.startswith("gen-")]) == 1
    assert interrupted > 0, "no kill landed before publishing: the test did not test an interrupted merge"


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigkill_of_the_main_process_takes_its_workers_and_the_lock(tmp_path):
    """#17.7: once the workers outlived a SIGKILLed build for >= 120 s, holding the lock, and the rerun
    was refused naming the dead pid."""
    from cooc.indexer.lock import DirectoryLock

    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(8):
        write_jsonl(shards / f"s{i:02d}.jsonl", DOCS[i % len(DOCS) :] * 4000)
    out = tmp_path / "idx"
    proc = subprocess.Popen(cooc("build", shards, "-o", out, "-q", "--workers", "2"))
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        workers = [c for c in _children(proc.pid) if _alive(c)]
        time.sleep(0.05)
    assert len(workers) >= 2 and not (out / "manifest.json").exists()
    proc.kill()  # the main process only: its workers are not signalled
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "workers outlived the build"
    with DirectoryLock(out):  # the rerun may write here
        pass
    rerun = subprocess.run(cooc("build", shards, "-o", out, "-q", "--workers", "2"), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
