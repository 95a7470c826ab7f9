"""Where independent tasks run: local processes or Ray tasks, behind one small interface.

The map (one task per shard) and the reduce (one task per bucket) are both lists of tasks
that write their own files and markers, so a runner only has to run them and report what
failed. `LocalRunner` stops at the first error (a local user fixes it and reruns; finished
tasks are kept); `RayRunner` retries a failing task and reports the ones that keep failing
by name while the others finish, as a cluster job should.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .errors import CoocError
from .lock import forget_inherited_locks

__all__ = ["LocalRunner", "RayRunner", "Runner", "Task", "TaskFailure", "default_processes", "make_runner"]


def default_processes() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Task:
    """One unit of work: `fn(*args)` in a worker; `name` is what errors and progress call it."""

    name: str
    fn: Callable[..., Any]
    args: tuple = ()
    weight: int = 1  # for ordering (heaviest first) and progress (bytes of a shard, rows of a bucket)


@dataclass(frozen=True)
class TaskFailure:
    name: str
    error: str


Done = Callable[[Task, Any], None]


class Runner(Protocol):
    """Runs tasks, calling `done(task, result)` as each finishes; returns the tasks that failed."""

    kind: ClassVar[str]  # "local" or "ray", as the manifest records it

    def run(self, tasks: list[Task], done: Done) -> list[TaskFailure]: ...

    @property
    def processes(self) -> int: ...


_PR_SET_PDEATHSIG = 1


def _worker_init(parent: int) -> None:
    """A local worker dies with the build: the kernel kills it when its parent dies (Linux), it
    exits if the parent is already gone, and it holds none of the parent's locks."""
    forget_inherited_locks()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


@dataclass(kw_only=True)
class LocalRunner:
    kind: ClassVar[str] = "local"
    workers: int = field(default_factory=default_processes)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise CoocError(f"workers must be >= 1, got {self.workers}")

    @property
    def processes(self) -> int:
        return self.workers

    def run(self, tasks: list[Task], done: Done) -> list[TaskFailure]:
        if self.workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                done(task, task.fn(*task.args))
            return []
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=ctx, initializer=_worker_init,
                                 initargs=(os.getpid(),)) as pool:
            for task, result in _as_completed(pool, _heaviest_first(tasks)):
                done(task, result)
        return []


def _as_completed(pool: ProcessPoolExecutor, tasks: list[Task]) -> Iterator[tuple[Task, Any]]:
    pending: dict[Future, Task] = {pool.submit(t.fn, *t.args): t for t in tasks}
    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for fut in finished:
            task = pending.pop(fut)
            yield task, fut.result()  # re-raises a worker's CoocError here


def _heaviest_first(tasks: list[Task]) -> list[Task]:
    return sorted(tasks, key=lambda t: -t.weight)


def _ray():
    try:
        import ray
    except ImportError:
        raise CoocError("--executor ray needs Ray: pip install 'cooc[ray]'") from None
    return ray


def _on_ray_worker(fn: Callable[..., Any], *args: Any) -> Any:
    """Every cooc task on Ray runs under this name (the kill tests find it in the process title)."""
    return fn(*args)


@dataclass(kw_only=True)
class RayRunner:
    kind: ClassVar[str] = "ray"
    address: str | None = None  # join this Ray cluster; None starts a local one
    cpus: int | None = None  # CPUs of the local cluster it starts (None: all)
    max_retries: int = 2  # retries of a failing task before it is reported

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise CoocError(f"max_retries must be >= 0, got {self.max_retries}")
        _ray()  # fail fast, before any work, when Ray is not installed

    @property
    def processes(self) -> int:
        return self.cpus or default_processes()

    def run(self, tasks: list[Task], done: Done) -> list[TaskFailure]:
        ray = _ray()
        started = not ray.is_initialized()
        if started:
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            ray.init(**({"address": self.address} if self.address else {"num_cpus": self.cpus}), **kwargs)
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=True)(_on_ray_worker)
        failures: list[TaskFailure] = []
        try:
            pending = {remote.remote(t.fn, *t.args): t for t in _heaviest_first(tasks)}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - any task error is reported by task name
                        cause = getattr(exc, "cause", None) or exc
                        failures.append(TaskFailure(task.name, str(cause).strip().splitlines()[-1][:300]))
                        continue
                    done(task, result)
        finally:
            if started:
                ray.shutdown()
        return failures


def make_runner(executor: str = "local", workers: int | None = None, ray_address: str | None = None,
                max_retries: int = 2) -> Runner:
    """The runner the CLI's --executor/--workers/--ray-address/--max-retries describe."""
    if executor == "local":
        return LocalRunner(workers=workers or default_processes())
    if executor == "ray":
        return RayRunner(address=ray_address, cpus=workers, max_retries=max_retries)
    raise CoocError(f"unknown executor {executor!r}; use local or ray")
