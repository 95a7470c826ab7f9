"""Allocators that hand freed memory back, for the build's processes.

A build allocates and frees large arrays shard after shard (count tables, runs, Parquet buffers).
By default neither allocator returns them: glibc's malloc raises its mmap threshold to the
largest block freed (up to 32 MiB), so later blocks of that size come from the heap and stay
there, fragmented; pyarrow's jemalloc pool keeps freed pages for reuse. Measured on the 3
corpus files, 2 workers (distinct pages of the process tree, median of 3): 605 -> 479 MiB while
counting, 584 -> 502 MiB in the merge, at the same wall time. So every block of 128 KiB or more
is its own mapping (returned when freed), and pyarrow allocates with malloc. Both are settings of the
whole process: a program that calls `build_index` or `merge` keeps them afterwards. The fixed threshold
costs time (fresh mappings are zeroed pages: the 10x corpus build 31.6-35.7 s against 26.1-30.8 s with
glibc's default, unsampled, 2 runs each); it is what keeps the build's peak at infini-gram's, the target
it is judged by (README, Benchmarks).

`release_llvm_pages` returns the other large share of a build's memory: LLVM's text. numba needs
LLVM (llvmlite) only to load the cached kernels, and this machine's kernel reads the library in
large folios at import, so all ~100 MiB of it stay resident in every process of the build.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pyarrow as pa

__all__ = ["give_back_freed_memory", "release_llvm_pages"]

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 << 10  # glibc's initial threshold, now fixed: it no longer rises with frees
_MADV_PAGEOUT = 21  # Linux >= 5.4 (mman-common.h)
_LLVM = "/llvmlite/"  # numba's LLVM: site-packages/llvmlite/binding/libllvmlite.so
_DONE: list[bool] = []


def give_back_freed_memory() -> None:
    """Fix glibc's mmap threshold and make pyarrow allocate with malloc, once per process (forked workers
    inherit both)."""
    if _DONE:
        return
    _DONE.append(True)
    pa.set_memory_pool(pa.system_memory_pool())
    if not sys.platform.startswith("linux"):
        return
    try:
        _libc().mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): its allocator already unmaps
        pass


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def library_text(maps: str, library: str) -> list[tuple[int, int]]:
    """[start, end) of the read-only mappings of a library in a /proc/PID/maps text: pages never written,
    so paging them out loses nothing (they are read back from the file if touched again)."""
    out = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "w" not in fields[1] and library in fields[5]:
            lo, hi = fields[0].split("-")
            out.append((int(lo, 16), int(hi, 16)))
    return out


def release_llvm_pages() -> int:
    """Page out LLVM's resident text (MADV_PAGEOUT) once the kernels are loaded; returns the bytes advised.

    Called before a build forks its workers and again before the merge. Measured on the 3 corpus files,
    2 workers: the tree's peak 377-379 -> 312-315 MiB distinct pages; loading the merge's kernels reads
    ~10 MiB of it back. Paging out every library's text instead was worse (322-339 MiB: the pages in use
    fault back in large folios, and ~300 major faults). A no-op off Linux or without MADV_PAGEOUT.
    """
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            ranges = library_text(f.read(), _LLVM)
        madvise = _libc().madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return sum(hi - lo for lo, hi in ranges if madvise(lo, hi - lo, _MADV_PAGEOUT) == 0)
