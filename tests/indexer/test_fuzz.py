"""Hostile input to the readers, the normalizer and the name kernel: no crash, no hang, every bad record counted,
and the kernel finds what the Python reference finds whatever the text.

Short runs here (CI); `make fuzz` runs the same properties with many more examples."""

import gzip
import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cooc.indexer.errors import ReadError
from cooc.indexer.names import find_batch
from cooc.indexer.normalize import normalize_key, normalize_text
from cooc.indexer.read import ReadOptions, ReadStats, read_file
from cooc.indexer.spans import mentions

EXAMPLES = int(os.environ.get("COOC_FUZZ_EXAMPLES", "60"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# RTL marks, combining accents, NUL, BOM, lone surrogates (valid in JSON escapes), zero-width and special spaces,
# quotes, sentence marks and glue the rule reads
NASTY = "\u202e\u200f\u0301\u0308\x00\ufeff\u200b\u00a0\u2019\u05d0\u0627\U0001f600\ud800\udfffAaZ1 .\n\"'&-,;"
nasty_text = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), max_size=200)


@fuzz
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_jsonl_reader_survives_random_lines(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("f") / "x.jsonl"
    good = json.dumps({"text": "ok"}).encode()
    path.write_bytes(b"\n".join([good, *[line.replace(b"\n", b" ") for line in lines]]) + b"\n")
    stats = ReadStats()
    texts = [t for b in read_file(path, ReadOptions(), stats) for t in b.texts]
    non_empty = 1 + sum(1 for line in lines if line.replace(b"\n", b" ").strip())
    assert texts[0] == "ok"
    assert len(texts) + stats.skipped_total == non_empty  # every line is a document or a counted skip


def _decodes(path) -> bool:
    """An independent decoder as the oracle: a file it cannot decode must be a ReadError, never a silent read."""
    import bz2
    import io

    import pyarrow.parquet as pq
    import zstandard

    data = path.read_bytes()
    try:
        if path.suffix == ".gz":
            gzip.decompress(data)
        elif path.suffix == ".zst":
            zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
        elif path.suffix == ".bz2":
            bz2.decompress(data)
        else:
            pq.read_table(path)
        return True
    except Exception:
        return False


@fuzz
@given(st.binary(max_size=2000) | st.just(b"") | st.sampled_from([gzip.compress(b"{}"), b"\x1f\x8b" + b"x" * 40]))
def test_compressed_and_parquet_readers_fail_cleanly_on_garbage(tmp_path_factory, blob):
    d = tmp_path_factory.mktemp("g")
    for name in ("x.jsonl.gz", "x.jsonl.zst", "x.jsonl.bz2", "x.parquet"):
        (d / name).write_bytes(blob)
        try:
            list(read_file(d / name, ReadOptions(), ReadStats()))
        except ReadError as exc:  # decodable files may still hold bad records: a clean error either way
            assert "\n" not in str(exc) and name in str(exc)
        else:
            assert _decodes(d / name), f"{name}: garbage that no decoder accepts was read without an error"


def test_edge_files(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "nul.txt").write_bytes(b"Paris\x00France")
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.jsonl").write_text(json.dumps({"text": "a"}) + "\n" + deep + "\n")
    big = "Paris " * 2_000_000  # a 12 MB line
    (tmp_path / "big.jsonl.gz").write_bytes(gzip.compress((json.dumps({"text": big}) + "\n").encode()))
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    out = {}
    for f in sorted(tmp_path.iterdir()):
        stats = ReadStats()
        docs = [t for b in read_file(f, ReadOptions(), stats) for t in b.texts]
        out[f.name] = (len(docs), dict(stats.skipped))
    assert out == {
        "big.jsonl.gz": (1, {}), "deep.jsonl": (1, {"bad_json": 1}), "empty.jsonl": (0, {}),
        "empty.txt": (0, {}), "latin1.txt": (0, {"invalid_utf8": 1}), "nul.txt": (1, {}),
    }
    found = find_batch([" ".join(["in Paris"] * 1_000_000)])  # a 9 MB document: 1,000,000 mentions
    assert found.doc.size == 1_000_000 and found.ntokens.tolist() == [2_000_000]


@fuzz
@given(nasty_text)
def test_normalization_is_total_and_idempotent_on_nasty_text(text):
    k = normalize_key(text)
    assert normalize_key(k) == k
    assert normalize_text(normalize_text(text)) == normalize_text(text)


@fuzz
@given(st.lists(nasty_text, max_size=8), st.booleans(), st.booleans())
def test_name_kernel_is_total_and_equals_the_reference_on_nasty_text(texts, skip, inner):
    found = find_batch(texts, skip, inner)
    assert found.ntokens.shape == (len(texts),)
    assert all(0 <= d < len(texts) for d in found.doc.tolist())
    assert all(f + n <= found.ntokens[d] for d, f, n in zip(found.doc.tolist(), found.first.tolist(),
                                                              found.length.tolist(), strict=True))
    got = [[] for _ in texts]
    for d, a, n, h, k in zip(found.doc.tolist(), found.first.tolist(), found.length.tolist(), found.hash.tolist(),
                             found.kind.tolist(), strict=True):
        got[d].append((a, n, h, k))
    assert got == [mentions(t, skip, inner) for t in texts]


@pytest.mark.parametrize("n", [0, 1, 5000])
def test_many_mentions_in_one_document(n):
    found = find_batch([" ".join(["in Paris"] * n)])
    assert found.doc.size == n and found.ntokens.tolist() == [2 * n]


def test_a_long_capitalized_run_takes_linear_time():
    """A document of 100,000 capitalized words and no sentence end (a word list, a heading dump) is one run;
    finding its names must stay linear: ~0.05 s in this process once compiled (a quadratic scan took ~7 s
    for 60,000 words). Timed in-process, so a loaded machine's interpreter start-up is not on the clock."""
    find_batch(["in Paris"])  # compiled (or loaded from the cache) off the clock
    t0 = time.perf_counter()
    find_batch(["in " + "Paris " * 100_000])
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.slow
def test_coverage_guided_fuzzing_with_atheris(tmp_path):
    """libFuzzer via atheris (dev extra): a short run here, `make fuzz` runs 200,000 inputs."""
    from pathlib import Path

    pytest.importorskip("atheris")
    harness = Path(__file__).with_name("atheris_fuzz.py")
    runs = int(os.environ.get("COOC_ATHERIS_RUNS", "2000"))
    r = subprocess.run([sys.executable, str(harness), f"-runs={runs}", "-seed=1"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Done {runs} runs" in r.stderr and not list(tmp_path.glob("crash-*"))
