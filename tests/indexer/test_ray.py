"""The Ray executor on a real local Ray runtime (2 CPUs): same index as a local build, retries after a
killed worker, and a corrupt shard reported by name while the other shards are merged."""

import gzip
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from cooc.indexer.build import BuildConfig, build_index
from cooc.indexer.merge import MergeOptions
from cooc.indexer.runner import LocalRunner, RayRunner
from tests.conftest import DOCS, write_jsonl
from tests.helpers import same_index

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # real subprocesses or a Ray runtime: `pytest -m "not slow"` skips them

@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def cfg(files, out, gazetteer=None, **kw):
    """The default build, or with a gazetteer (loaded once per Ray worker process); pairs in 1 document are
    pruned to the sketch, so that the sketch is compared too."""
    return BuildConfig([str(f) for f in files], out, gazetteer=gazetteer, window=10, progress=False,
                       merge=MergeOptions(sketch_mb=0.25, min_pair_docs=2), **kw)


def shards(tmp_path: Path, n: int, repeat: int = 1) -> list[Path]:
    d = tmp_path / "shards"
    d.mkdir(exist_ok=True)
    n_docs = len(DOCS)
    return [write_jsonl(d / f"s{i:02d}.jsonl", (DOCS[i % n_docs :] + DOCS[: i % n_docs]) * repeat) for i in range(n)]


def test_ray_build_equals_local_build(tmp_path, gazetteer, ray_runtime):
    files = shards(tmp_path, 6)
    build_index(cfg(files, tmp_path / "local", gazetteer, runner=LocalRunner(workers=1)))
    r = build_index(cfg(files, tmp_path / "ray", gazetteer, runner=RayRunner()))
    assert r.failed == [] and r.shards_counted == 6
    same_index(tmp_path / "local", tmp_path / "ray")


def _ray_task_pids() -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, PermissionError, ProcessLookupError, NotADirectoryError):
            continue
        if b"ray::_on_ray_worker" in cmd:
            pids.append(int(pid))
    return pids


@contextmanager
def killing_one_ray_task():
    """SIGKILL the first running cooc task on Ray (within 60 s) while the body runs; yields the pids killed."""
    killed: list[int] = []

    def killer():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for pid in _ray_task_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.01)

    t = threading.Thread(target=killer)
    t.start()
    try:
        yield killed
    finally:
        t.join()


def test_killed_worker_is_retried_and_counts_are_right(tmp_path, ray_runtime):
    files = shards(tmp_path, 4, repeat=3000)  # tasks long enough to be caught running
    build_index(cfg(files, tmp_path / "local", runner=LocalRunner(workers=1)))
    with killing_one_ray_task() as killed:
        r = build_index(cfg(files, tmp_path / "ray", runner=RayRunner(max_retries=3)))
    assert killed, "no running Ray task was found to kill"
    assert r.failed == []
    same_index(tmp_path / "local", tmp_path / "ray")


def test_corrupt_shard_is_reported_while_the_others_are_merged(tmp_path, ray_runtime):
    files = shards(tmp_path, 3)
    good = write_jsonl(tmp_path / "big.jsonl.gz", DOCS * 50, opener=gzip.open)
    bad = tmp_path / "shards" / "cut.jsonl.gz"
    bad.write_bytes(good.read_bytes()[:200])
    r = build_index(cfg([*files, bad], tmp_path / "idx", runner=RayRunner(max_retries=1)))
    assert [Path(f.name).name for f in r.failed] == ["cut.jsonl.gz"]
    assert "truncated or corrupt" in r.failed[0].error
    assert r.merged is not None and r.merged.documents == 3 * len(DOCS) and r.merged.parts == 3
    bad.unlink()
    again = build_index(cfg(files, tmp_path / "idx", runner=RayRunner(), force=True))
    assert again.shards_counted == 0 and again.failed == []


def test_without_ray_the_executor_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from cooc.indexer.errors import CoocError

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(CoocError, match=r"--executor ray needs Ray: pip install 'cooc\[ray\]'"):
        build_index(cfg(shards(tmp_path, 1), tmp_path / "idx", runner=RayRunner()))
    assert not (tmp_path / "idx").exists()  # refused before any work


def test_bucketed_ray_merge_equals_local_merge_and_one_shot_build(tmp_path, gazetteer, ray_runtime):
    from cooc.indexer.merge import merge

    files = shards(tmp_path, 4)
    build_index(cfg(files, tmp_path / "one", gazetteer, runner=LocalRunner(workers=1)))  # one-shot, one bucket
    opts = MergeOptions(sketch_mb=0.25, min_pair_docs=2, buckets=8)
    merge([tmp_path / "one"], tmp_path / "local", opts, LocalRunner(workers=2))
    merge([tmp_path / "one"], tmp_path / "ray", opts, RayRunner())
    same_index(tmp_path / "one", tmp_path / "local")
    same_index(tmp_path / "one", tmp_path / "ray")


def test_a_killed_bucket_task_is_retried_with_the_same_result(tmp_path, ray_runtime):
    from cooc.indexer.merge import merge

    files = shards(tmp_path, 4, repeat=3000)
    build_index(cfg(files, tmp_path / "one", runner=LocalRunner(workers=2)))
    with killing_one_ray_task() as killed:  # only merge tasks run on Ray here
        merge([tmp_path / "one"], tmp_path / "ray", MergeOptions(sketch_mb=0.25, min_pair_docs=2, buckets=4),
              RayRunner(max_retries=3))
    assert killed, "no running bucket task was found to kill"
    same_index(tmp_path / "one", tmp_path / "ray")
