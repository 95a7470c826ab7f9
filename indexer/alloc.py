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

`release_library_pages` returns the other large share of a build's memory: library text read at
import and not used since. This machine's kernel reads a shared library in large folios at import,
so all ~100 MiB of LLVM's text (llvmlite: numba needs it only to load the cached kernels) stay
resident, and most of pyarrow's, numpy's and scipy's (numba imports it) though the build uses a part.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pyarrow as pa

__all__ = ["COLD_LIBRARIES", "LLVM", "give_back_freed_memory", "release_library_pages"]

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 << 10  # glibc's initial threshold, now fixed: it no longer rises with frees
_MADV_PAGEOUT = 21  # Linux >= 5.4 (mman-common.h)
LLVM = ("/llvmlite/",)  # numba's LLVM: site-packages/llvmlite/binding/libllvmlite.so
#: what a build pages out before it forks: LLVM, and the libraries whose pages the workers touch in part
#: (paging out every library's text, libpython's included, was worse: hot pages fault back in large folios)
COLD_LIBRARIES = (*LLVM, "/pyarrow/", "/numpy/", "/scipy")
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


def library_text(maps: str, libraries: tuple[str, ...]) -> list[tuple[int, int]]:
    """[start, end) of the read-only mappings of the libraries (path fragments) in a /proc/PID/maps text:
    pages never written, so paging them out loses nothing (they are read back from the file if touched)."""
    out = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "w" not in fields[1] and any(lib in fields[5] for lib in libraries):
            lo, hi = fields[0].split("-")
            out.append((int(lo, 16), int(hi, 16)))
    return out


def release_library_pages(libraries: tuple[str, ...] = LLVM) -> int:
    """Page out the libraries' resident text (MADV_PAGEOUT); returns the bytes advised.

    A build calls it with COLD_LIBRARIES once its parent has loaded the kernels, before it forks (with LLVM
    alone when it counts in its own process, which would read the others straight back), and with LLVM once
    the merge has loaded its kernels. Measured on the 3 corpus files, 2 workers (the tree's peak,
    distinct pages): 377-379 MiB -> 312-315 with LLVM's text paged out, -> 293-304 (4 runs) with COLD_LIBRARIES
    before the fork. Only pages that this process alone maps are dropped; a no-op off Linux or without
    MADV_PAGEOUT.
    """
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            ranges = library_text(f.read(), libraries)
        madvise = _libc().madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return sum(hi - lo for lo, hi in ranges if madvise(lo, hi - lo, _MADV_PAGEOUT) == 0)
