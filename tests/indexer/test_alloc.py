"""The build's process memory settings (indexer/alloc.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cooc.indexer.alloc import library_text

MAPS = """\
7f0000000000-7f0000100000 r--p 00000000 fd:00 1 /venv/lib/python3.11/site-packages/llvmlite/binding/libllvmlite.so
7f0000100000-7f0004000000 r-xp 00100000 fd:00 1 /venv/lib/python3.11/site-packages/llvmlite/binding/libllvmlite.so
7f0004000000-7f0004010000 rw-p 03f00000 fd:00 1 /venv/lib/python3.11/site-packages/llvmlite/binding/libllvmlite.so
7f0005000000-7f0005100000 r-xp 00000000 fd:00 2 /venv/lib/python3.11/site-packages/pyarrow/libarrow.so.2000
7f0006000000-7f0006100000 rw-p 00000000 00:00 0
"""


def test_only_the_libraries_read_only_mappings_are_paged_out():
    llvm = [(0x7F0000000000, 0x7F0000100000), (0x7F0000100000, 0x7F0004000000)]
    assert library_text(MAPS, ("/llvmlite/",)) == llvm
    assert library_text(MAPS, ("/llvmlite/", "/pyarrow/")) == [*llvm, (0x7F0005000000, 0x7F0005100000)]
    assert library_text(MAPS, ("/numba/",)) == []


# In a fresh interpreter: LLVM's resident pages (from smaps) after numba compiled and ran a function, after
# release, and after counting a document with the kernels loaded before the release (they must still run).
_PROBE = """
import sys
import llvmlite, numba
from cooc.indexer.alloc import release_library_pages
from cooc.indexer.count import ShardCounter

def llvm_kib():
    kib, inside = 0, False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):
            inside = len(head) > 5 and "/llvmlite/" in head[5]
        elif inside and head[0] == "Rss:":
            kib += int(head[1])
    return kib

assert llvmlite.__file__.startswith(sys.argv[1]), llvmlite.__file__
counter = ShardCounter(1000)
counter.add(["Ada Lovelace met Charles Babbage in London."])
before = llvm_kib()
advised = release_library_pages()
after = llvm_kib()
counter.add(["Charles Babbage wrote to Ada Lovelace."])
run = counter.run()
print(before, advised >> 10, after, int(run.docs.sum()), run.pair_a.size)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_PAGEOUT is Linux's")
def test_llvm_text_is_paged_out_and_the_loaded_kernels_still_count(tmp_path):
    """The kernel pages out only pages no other process maps, and the other test workers map LLVM too: the
    probe imports a private copy of llvmlite."""
    import llvmlite

    shutil.copytree(Path(llvmlite.__file__).parent, tmp_path / "llvmlite")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    before, advised, after, docs, pairs = map(int, done.stdout.split())
    assert before > 1024 and advised >= before  # LLVM was resident, and all of its text was advised
    assert after < before / 4
    assert (docs, pairs) == (5, 3)  # Ada Lovelace and Charles Babbage in both documents, London in the first
