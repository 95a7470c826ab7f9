"""Wall time and peak memory of a subprocess and all its descendants, three ways.

- **RSS**: VmRSS summed over the tree. A page shared by several processes of the tree (the
  libraries a forked worker inherits, numba's machine code, numpy, pyarrow) counts once per
  process, so a tree of a parent and 2 forked workers reads ~3x its libraries.
- **PSS**: `Pss` of /proc/PID/smaps_rollup summed over the tree: a page shared by n processes
  counts 1/n in each. Honest within the tree, but it also divides pages shared with processes
  *outside* it (the benchmark's own process imports the same libraries from the same venv), so
  it depends on what else runs.
- **unique**: the distinct physical pages mapped by the tree (/proc/PID/pagemap, readable with
  CAP_SYS_ADMIN; None without it): every resident page counts once, whoever else maps it. This
  is the memory the tree occupies, and what the issue's "peak RSS of the process tree" means.

Sampled every 50 ms (a unique-page sample of a ~1 GB tree takes ~0.1 s, so samples are that far
apart then); peaks are per measure. Sampling costs the measured tree CPU, so time is measured in
separate, unsampled runs (`run_measured(..., sample=False)`).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_SECONDS = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE")
_PRESENT = np.uint64(1 << 63)
_PFN = np.uint64((1 << 55) - 1)
_USER_TOP = 1 << 47  # [vsyscall] and other kernel addresses: not in pagemap


@dataclass
class TreeMemory:
    """Bytes, by the three measures of the module docstring (unique: None where pagemap hides frame numbers)."""

    rss: int = 0
    pss: int = 0
    unique: int | None = None

    def peak(self, other: TreeMemory) -> TreeMemory:
        u = None if self.unique is None and other.unique is None else max(self.unique or 0, other.unique or 0)
        return TreeMemory(max(self.rss, other.rss), max(self.pss, other.pss), u)


@dataclass
class Measured:
    seconds: float
    peak: TreeMemory
    returncode: int


def tree_pids(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def _kib_field(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            return next((int(line.split()[1]) * 1024 for line in fh if line.startswith(key)), 0)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0


def _frames(pid: int) -> np.ndarray:
    """Physical frame numbers of the resident pages of one process (zeros when pagemap hides them)."""
    out = []
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb", buffering=0) as pm:
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split(None, 1)[0].split("-"))
                if lo >= _USER_TOP:
                    continue
                pm.seek(lo // _PAGE * 8)
                a = np.frombuffer(pm.read((hi - lo) // _PAGE * 8), np.uint64)
                out.append(a[(a & _PRESENT) != 0] & _PFN)
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        pass
    return np.concatenate(out) if out else np.zeros(0, np.uint64)


def tree_memory(pid: int, unique: bool = True) -> TreeMemory:
    """The memory of a process and its descendants now, by the three measures."""
    pids = tree_pids(pid)
    rss = sum(_kib_field(f"/proc/{p}/status", "VmRSS:") for p in pids)
    pss = sum(_kib_field(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
    if not unique:
        return TreeMemory(rss, pss)
    frames = np.concatenate([_frames(p) for p in pids])
    if frames.size and not frames.any():  # no CAP_SYS_ADMIN: the kernel reports frame 0 for every page
        return TreeMemory(rss, pss)
    return TreeMemory(rss, pss, int(np.unique(frames).size) * _PAGE)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (VmRSS summed: shared pages once per process)."""
    return tree_memory(pid, unique=False).rss


def run_measured(cmd: list[str], log: Path, env: dict[str, str] | None = None, sample: bool = True) -> Measured:
    """Run `cmd` (stdout and stderr to `log`), sampling its tree's memory until it exits (`sample`).

    A unique-page sample of a tree of a few hundred MiB keeps a core busy for ~0.1 s, so on 2 cores
    the sampler slows what it measures (the 10x corpus build by ~10 s of ~30 s): wall times come from
    runs with `sample=False` (peak then empty), peaks from sampled runs.
    """
    peak, stop = TreeMemory(), threading.Event()
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

        def sample_tree() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = peak.peak(tree_memory(proc.pid))
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample_tree, daemon=True)
        if sample:
            sampler.start()
        rc = proc.wait()
        seconds = time.perf_counter() - t0
        stop.set()
        if sample:
            sampler.join()
    return Measured(seconds, peak, rc)
