"""Readers during a republish (#17.4): an open index keeps its generation, an open that races a
republish retries, and superseded generations go once no reader holds them."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import time

import pytest

from cooc.scorer import Index, Scorer
from tests.scorer.corpus import build, write_docs


def generations(d):
    return sorted(p.name for p in d.iterdir() if p.name.startswith("gen-"))


def test_an_open_index_keeps_its_generation_through_rebuilds(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl")
    out = build(docs, tmp_path / "idx")
    idx = Index.open(out)
    before = idx.sql("SELECT count(*) FROM names")[0][0]
    build(docs, out, force=True)
    build(docs, out, force=True)
    # once: "database does not exist", the generation removed under the reader
    assert idx.sql("SELECT count(*) FROM names")[0][0] == before
    assert Scorer(idx).score("Who founded Microsoft?", "Bill Gates").pairs[0].docs == 1
    assert generations(out) == ["gen-1", "gen-3"]  # gen-2 had no reader; gen-1 is held
    del idx
    gc.collect()
    build(docs, out, force=True)
    assert generations(out) == ["gen-4"]


READER = textwrap.dedent("""
    import sys
    from cooc.scorer import Index, Scorer
    path, loops = sys.argv[1], int(sys.argv[2])
    errors = 0
    for _ in range(loops):
        try:
            idx = Index.open(path)
            Scorer(idx).score("Who founded Microsoft?", "Bill Gates")
            idx.sql("SELECT count(*) FROM pairs")
        except Exception as exc:
            errors += 1
            print(type(exc).__name__, exc, file=sys.stderr)
    print(loops, errors)
""")


@pytest.mark.slow
def test_readers_never_fail_while_the_index_is_republished(tmp_path):
    """Once 12 of 5,000 open + score loops failed with FileNotFoundError during `build --force`.
    Two readers loop 60 times each while the index is republished over and over."""
    docs = write_docs(tmp_path / "docs.jsonl")
    out = build(docs, tmp_path / "idx")
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(out), "60"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    republished = 0
    deadline = time.time() + 240
    while any(r.poll() is None for r in readers) and time.time() < deadline:
        build(docs, out, force=True)
        republished += 1
    for r in readers:
        stdout, stderr = r.communicate(timeout=60)
        loops, errors = map(int, stdout.split())
        print(f"reader: {loops} loops, {errors} errors over {republished} republishes")
        assert errors == 0, stderr[-2000:]
    assert republished >= 3
    build(docs, out, force=True)  # no reader now: every superseded generation goes
    assert len(generations(out)) == 1
