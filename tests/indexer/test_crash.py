"""A build killed with SIGKILL part-way loses no finished shard and reruns only the rest."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from tests.conftest import DOCS, write_jsonl

N_SHARDS = 24


def cooc(*args):
    return [sys.executable, "-m", "cooc.cli.main", *map(str, args)]


def test_sigkill_then_rerun_equals_uninterrupted_build(tmp_path, gazetteer):
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(N_SHARDS):
        write_jsonl(shards / f"s{i:02d}.jsonl", DOCS[i % 7 :] * 800)
    common = ["--gazetteer", gazetteer, "--no-ner", "--window", "10", "--workers", "1", "--sketch-mb", "1"]
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
    for f in ("entities.docs.npy", "entities.mentions.npy", "pairs.keys.npy", "pairs.docs.npy", "sketch.npy"):
        assert np.array_equal(np.load(tmp_path / "ref" / f), np.load(out / f)), f
