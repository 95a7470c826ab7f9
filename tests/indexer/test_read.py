"""Bad input: one clear error naming the file, or a counted skip; never a traceback."""

import gzip
import json
import subprocess
import sys
import textwrap

import pytest
import zstandard

from cooc.indexer.errors import ReadError
from cooc.indexer.read import ReadOptions, ReadStats, read_file, resolve_inputs
from tests.conftest import DOCS, build, write_jsonl, write_parquet


def read_all(path, **opts):
    stats = ReadStats()
    texts = [t for b in read_file(path, ReadOptions(**opts), stats) for t in b.texts]
    return texts, stats


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path):
    good = write_jsonl(tmp_path / "ok.jsonl.gz", DOCS * 50, opener=gzip.open)
    bad = tmp_path / "cut.jsonl.gz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ReadError, match=r"cut\.jsonl\.gz: truncated or corrupt \.gz") as exc:
        read_all(bad)
    assert "\n" not in str(exc.value)


def test_malformed_records_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "Paris"}).encode(),
        b'{"id": "b", "text": "unterminated',
        json.dumps({"id": "c", "text": 42}).encode(),
        b'{"id": "d", "text": "caf\xe9"}',  # latin-1 byte: invalid UTF-8
        b"[1, 2, 3]",
        json.dumps({"id": "e", "text": "France"}).encode(),
        json.dumps({"id": "f", "body": "no text field"}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    texts, stats = read_all(path)
    assert texts == ["Paris", "France"]
    assert dict(stats.skipped) == {
        "bad_json": 1, "non_string_text": 1, "invalid_utf8": 1, "not_an_object": 1, "missing_text": 1,
    }
    with pytest.raises(ReadError, match=r"mixed\.jsonl:2: bad json"):
        read_all(path, strict=True)


def test_missing_text_field_fails_fast_listing_keys(tmp_path):
    path = tmp_path / "other.jsonl"
    path.write_text(json.dumps({"id": 1, "body": "x", "title": "y"}) + "\n")
    with pytest.raises(ReadError, match="no field 'text'; keys found: body, id, title"):
        read_all(path)
    assert read_all(path, text_field="body")[0] == ["x"]


def test_parquet_missing_column_lists_columns(corpus_files):
    with pytest.raises(ReadError, match="columns found: id, text"):
        read_all(corpus_files["parquet"], text_field="content")


def test_txt_lines_mode(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("first doc\n\nsecond doc\n")
    assert read_all(path, txt_lines=True)[0] == ["first doc", "second doc"]
    assert read_all(path)[0] == ["first doc\n\nsecond doc\n"]


def test_resolve_inputs(tmp_path, corpus_files):
    with pytest.raises(ReadError, match="no such file or directory"):
        resolve_inputs([str(tmp_path / "missing.jsonl")])
    with pytest.raises(ReadError, match="glob matched no corpus files"):
        resolve_inputs([str(tmp_path / "*.nothing")])
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(ReadError, match="unsupported file type"):
        resolve_inputs([str(tmp_path / "x.csv")])
    files = resolve_inputs([str(corpus_files["txt"]), str(corpus_files["txt"] / "d1.txt")])
    assert [f.name for f in files] == [f"d{i}.txt" for i in range(1, 10)]


def test_skips_are_reported_in_the_manifest(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "Paris and France"}\n{"text": 7}\nnot json\n')
    result = build([path], tmp_path / "idx")
    assert result.merged.documents == 1 and result.merged.skipped == {"non_string_text": 1, "bad_json": 1}
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["corpus"]["skipped"] == {"non_string_text": 1, "bad_json": 1}
    assert manifest["inputs"][0]["skipped"] == {"non_string_text": 1, "bad_json": 1}


def test_documents_over_the_size_limit_are_skipped_and_counted(tmp_path):
    long_text = "Paris " * 100
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": long_text}) + "\n" + json.dumps({"text": "short"}) + "\n")
    (tmp_path / "b.txt").write_text(long_text)
    (tmp_path / "c.txt").write_text(long_text + "\nshort line\n")
    write_parquet(tmp_path / "d.parquet", [("1", long_text), ("2", "short")])
    got = {}
    for name, lines in (("a.jsonl", False), ("b.txt", False), ("c.txt", True), ("d.parquet", False)):
        texts, stats = read_all(tmp_path / name, max_doc_bytes=100, txt_lines=lines)
        got[name] = (texts, dict(stats.skipped))
    assert got == {
        "a.jsonl": (["short"], {"too_long": 1}), "b.txt": ([], {"too_long": 1}),
        "c.txt": (["short line"], {"too_long": 1}), "d.parquet": (["short"], {"too_long": 1}),
    }


HUGE_LINE = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # 2 GiB of address space, imports included
    from cooc.indexer.read import ReadOptions, ReadStats, read_file
    stats = ReadStats()
    texts = [t for b in read_file(Path(sys.argv[1]), ReadOptions(), stats) for t in b.texts]
    peak = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:")) / 1024
    print(json.dumps({"texts": texts, "skipped": dict(stats.skipped), "peak_mb": round(peak)}))
""")


@pytest.mark.slow
def test_a_1gb_line_is_skipped_while_streaming_in_bounded_memory(tmp_path):
    """#17.10: once skipped as too_long only after it was read whole (peak RSS 3.25 GB for 1 GB)."""
    path = tmp_path / "huge.jsonl.zst"
    with zstandard.ZstdCompressor(level=1).stream_writer(open(path, "wb")) as w:
        w.write(b'{"text": "Paris is in France."}\n{"text": "')
        chunk = b"a" * (64 << 20)
        for _ in range(16):  # 1 GiB of text on one line
            w.write(chunk)
        w.write(b'"}\n{"text": "Lyon is in France."}\n')
    out = subprocess.run([sys.executable, "-c", HUGE_LINE, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert r["texts"] == ["Paris is in France.", "Lyon is in France."] and r["skipped"] == {"too_long": 1}
    assert r["peak_mb"] < 400, f"peak RSS {r['peak_mb']} MB"
    print(f"1 GiB line: peak RSS {r['peak_mb']} MB")
