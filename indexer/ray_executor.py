"""`--executor ray`: the per-shard work as Ray tasks on a local or remote Ray cluster.

Each input file is one task (1 CPU) that writes its part into the shared output
directory, exactly as a local worker does, so a Ray build equals a local build. A task
that fails (a bad shard, a killed worker) is retried up to `max_retries` times; a shard
that keeps failing is reported by name while every other shard finishes; the merge
(the reduce) then runs over the finished parts, and a rerun counts only what is missing.
Ray is an optional extra: `pip install 'cooc[ray]'`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .errors import CoocError
from .parts import CountOptions, count_shard_with


@dataclass
class ShardFailure:
    file: str
    error: str


def _count_on_worker(path: str, parts_dir: str, opts: CountOptions, skip: set[int] | None) -> dict:
    """Runs inside a Ray worker (the name the kill test looks for in the process title)."""
    return count_shard_with(Path(path), Path(parts_dir), opts, skip)


def _ray():
    try:
        import ray
    except ImportError:
        raise CoocError("--executor ray needs Ray: pip install 'cooc[ray]'") from None
    return ray


def run_shards_ray(todo: list[Path], parts_dir: Path, opts: CountOptions, drop: dict[str, set[int]], address: str | None, cpus: int | None, max_retries: int,
                   progress: bool) -> list[ShardFailure]:
    """Count `todo` on Ray; returns the shards that failed after all retries."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=cpus, **kwargs)
        started = True
    task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(_count_on_worker)
    sizes = {p: p.stat().st_size for p in todo}
    bar = tqdm(total=sum(sizes.values()), unit="B", unit_scale=True, desc="counting (ray)", disable=not progress,
               dynamic_ncols=True)
    failures: list[ShardFailure] = []
    try:
        pending = {
            task.remote(str(p.resolve()), str(parts_dir.resolve()), opts, drop.get(str(p))): p
            for p in sorted(todo, key=lambda p: -sizes[p])
        }
        finished, t0 = 0, time.perf_counter()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                p = pending.pop(ref)
                try:
                    ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - any task error is reported by shard name
                    cause = getattr(exc, "cause", None) or exc
                    failures.append(ShardFailure(str(p), str(cause).strip().splitlines()[-1][:300]))
                finished += 1
                bar.update(sizes[p])
                bar.set_postfix(shards=f"{finished}/{len(todo)}", failed=len(failures),
                                elapsed=f"{time.perf_counter() - t0:.0f}s")
    finally:
        bar.close()
        if started:
            ray.shutdown()
    return failures
