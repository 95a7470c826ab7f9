"""Which files a build reads (#17 items 8, 9, 12a): each real file once, unreadable paths named, never
the build's own output."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from cooc.indexer.build import format_build
from cooc.indexer.errors import ReadError
from cooc.indexer.read import find_inputs
from cooc.indexer.verify import verify_index
from cooc.scorer import Index
from tests.conftest import DOCS, build, write_jsonl


def test_the_same_file_under_three_paths_is_counted_once(tmp_path):
    """Once `C/x.jsonl.gz C/../C/x.jsonl.gz` (or a symlink) doubled documents and pairs, and --verify said ok."""
    c = tmp_path / "C"
    c.mkdir()
    write_jsonl(c / "x.jsonl.gz", opener=gzip.open)
    (tmp_path / "link.jsonl.gz").symlink_to(c / "x.jsonl.gz")
    paths = [c / "x.jsonl.gz", c / ".." / "C" / "x.jsonl.gz", tmp_path / "link.jsonl.gz"]
    result = build(paths, tmp_path / "idx")
    assert result.merged.documents == len(DOCS) and result.shards == 1
    assert "2 input path(s) name a file already listed" in format_build(result)
    assert Index.open(tmp_path / "idx").documents == len(DOCS) and verify_index(tmp_path / "idx") == []


def test_an_index_inside_its_own_input_directory_rebuilds(tmp_path):
    """Once its parts (.parquet) were read as corpus files and `--force` failed."""
    c = tmp_path / "C"
    c.mkdir()
    write_jsonl(c / "docs.jsonl")
    first = build([c], c / "idx")
    again = build([c], c / "idx", force=True)
    assert again.merged.documents == first.merged.documents == len(DOCS)
    assert "inside the output directory" in format_build(again)


#: root reads anything: drop the capabilities that let it, so a mode-000 path is denied as for a user
_UNPRIVILEGED = (["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                  "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else [])

PROBE = textwrap.dedent("""
    import sys
    from cooc.indexer.errors import CoocError
    from cooc.indexer.read import ReadOptions, ReadStats, find_inputs, read_file
    try:
        if sys.argv[1] == "read":
            list(read_file(__import__("pathlib").Path(sys.argv[2]), ReadOptions(), ReadStats()))
        else:
            found = find_inputs(sys.argv[2:], skip_unreadable=sys.argv[1] == "skip")
            print(len(found.files), *found.notes(), sep="\\n")
    except CoocError as exc:
        print("ERROR", exc)
""")


def probe(*args) -> str:
    if _UNPRIVILEGED and shutil.which("setpriv") is None:
        pytest.fail("running as root without setpriv: cannot make a path unreadable")
    return subprocess.run([*_UNPRIVILEGED, sys.executable, "-c", PROBE, *map(str, args)], capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture
def locked_dir(tmp_path):
    c = tmp_path / "C"
    (c / "sub").mkdir(parents=True)
    write_jsonl(c / "a.jsonl")
    write_jsonl(c / "sub" / "b.jsonl")
    write_jsonl(c / "c.jsonl.gz", opener=gzip.open)
    os.chmod(c / "sub", 0)
    os.chmod(c / "c.jsonl.gz", 0)
    yield c
    os.chmod(c / "sub", 0o755)
    os.chmod(c / "c.jsonl.gz", 0o644)


def test_an_unreadable_subdirectory_is_an_error_or_a_listed_skip(locked_dir):
    """Once: exit 0 with `input_files: 1`, the locked subdirectory silently left out."""
    out = probe("list", locked_dir)
    assert out.startswith("ERROR") and "permission denied" in out and "--skip-unreadable" in out
    out = probe("skip", locked_dir).splitlines()
    assert out[0] == "1" and "skipped 2 unreadable path(s)" in out[1] and "sub" in out[1]


def test_an_unreadable_file_says_permission_denied(locked_dir):
    """Once 'truncated or corrupt .gz'."""
    out = probe("read", locked_dir / "c.jsonl.gz")
    assert out.startswith("ERROR") and "permission denied" in out and "corrupt" not in out


def test_find_inputs_lists_real_paths_once(tmp_path):
    write_jsonl(tmp_path / "a.jsonl")
    found = find_inputs([tmp_path, tmp_path / "a.jsonl", str(tmp_path / "*.jsonl")])
    assert found.files == [(tmp_path / "a.jsonl").resolve()] and len(found.duplicates) == 2
    with pytest.raises(ReadError, match="no such file"):
        find_inputs([tmp_path / "missing.jsonl"])
