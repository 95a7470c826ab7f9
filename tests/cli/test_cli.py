"""The real `cooc` entry point: one-line errors, non-zero exits, never a traceback."""

import gzip
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cooc.cli.main import cli
from tests.conftest import DOCS, write_jsonl


def run(*args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "cooc.cli.main", *map(str, args)], capture_output=True, text=True)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert (proc.returncode == 0) == ok, proc.stderr
    return proc


def one_line_error(proc, *fragments):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    for f in fragments:
        assert f in lines[0]


def test_build_score_lookup_stats_end_to_end(tmp_path, corpus_files, gazetteer):
    out = tmp_path / "idx"
    proc = run("build", corpus_files["jsonl.gz"], "-o", out, "--gazetteer", gazetteer, "--no-ner", "--window", "10")
    assert "7 documents" in proc.stdout and "5 entities" in proc.stdout and "1 parts" in proc.stdout
    stats = json.loads(run("stats", "-i", out, "--json").stdout)
    assert (stats["documents"], stats["entities"], stats["pairs"], stats["window"]) == (7, 5, 4, 10)
    assert stats["tokens"] > 0
    lower = json.loads(run("score", "-i", out, "who founded microsoft", "--json").stdout)
    upper = json.loads(run("score", "-i", out, "Who founded Microsoft?", "--json").stdout)
    assert [e["name"] for e in lower["entities"]] == [e["name"] for e in upper["entities"]] == ["Microsoft"]
    text = run("score", "-i", out, "Who founded MSFT?", "--answer", "Bill Gates").stdout
    assert "'Microsoft' + 'Bill Gates': 1 docs" in text
    looked = json.loads(run("lookup", "-i", out, "msft", "Bill Gates", "--json").stdout)
    assert looked["entities"][0]["name"] == "Microsoft" and looked["pair"]["docs"] == 1


def test_bad_inputs_give_one_line_errors(tmp_path, gazetteer):
    good = write_jsonl(tmp_path / "ok.jsonl.gz", DOCS * 100, opener=gzip.open)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(good.read_bytes()[:300])
    proc = run("build", cut, "-o", tmp_path / "a", "--gazetteer", gazetteer, "--no-ner", "-q", ok=False)
    one_line_error(proc, "cut.jsonl.gz", "truncated")
    assert not (tmp_path / "a" / "manifest.json").exists()  # no index was published

    proc = run("build", tmp_path / "missing.jsonl", "-o", tmp_path / "b", "--gazetteer", gazetteer, "--no-ner", "-q", ok=False)
    one_line_error(proc, "missing.jsonl", "no such file or directory")

    not_index = tmp_path / "plain"
    not_index.mkdir()
    one_line_error(run("score", "-i", not_index, "Who?", ok=False), "not a cooc index")
    one_line_error(run("stats", "-i", tmp_path / "nowhere", ok=False), "no such index directory")

    other = tmp_path / "other.jsonl"
    other.write_text('{"body": "Paris"}\n')
    proc = run("build", other, "-o", tmp_path / "c", "--gazetteer", gazetteer, "--no-ner", "-q", ok=False)
    one_line_error(proc, "no field 'text'", "keys found: body", "--text-field")

    proc = run("build", good, "-o", tmp_path / "d", "--window", "wide", ok=False)
    assert "window must be a number of tokens or 'doc'" in proc.stderr


def test_counted_skips_are_reported(tmp_path, gazetteer):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "Paris, France"}\n{"text": 12}\n{oops\n')
    proc = run("build", path, "-o", tmp_path / "idx", "--gazetteer", gazetteer, "--no-ner")
    assert "skipped 2 malformed records" in proc.stdout


def test_cli_runner_rejects_unknown_policy(golden_index):
    result = CliRunner().invoke(cli, ["score", "-i", str(golden_index), "Paris?", "--policy", "nope"])
    assert result.exit_code == 2 and "Invalid value for '--policy'" in result.output


@pytest.mark.parametrize("args", [["--help"], ["build", "--help"], ["score", "--help"]])
def test_help(args):
    assert CliRunner().invoke(cli, args).exit_code == 0


def test_vocab_ranks_and_merge_from_the_command_line(tmp_path, corpus_files, gazetteer):
    vocab = tmp_path / "vocab.jsonl"
    assert "5 entities" in run("vocab", corpus_files["txt"], "-o", vocab, "--gazetteer", gazetteer, "--no-ner").stdout
    out = tmp_path / "idx"
    ranks = [  # both ranks at once, as a Slurm array would run them
        subprocess.Popen([sys.executable, "-m", "cooc.cli.main", "build", str(corpus_files["txt"]), "-o", str(out),
                          "--vocab", str(vocab), "--rank", str(rank), "--world-size", "2", "--window", "10"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)
    ]
    for proc in ranks:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "run `cooc merge`" in stdout
    merged = run("merge", out, "-o", out, "--sketch-mb", "1").stdout
    assert "7 documents" in merged and "from 7 parts" in merged
    stats = json.loads(run("stats", "-i", out, "--json").stdout)
    assert stats["pairs"] == 4 and stats["pairs_hll_estimate"] == 4 and stats["sketch"]["depth"] == 4
    one_line_error(run("merge", out, "-o", out, ok=False), "--force")


def test_score_batch_and_calibrate_from_the_command_line(tmp_path, golden_index):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"question": q, "answer": a, "label": y}) + "\n" for q, a, y in [
        ("Who founded Microsoft?", "Bill Gates", 0), ("Who founded Microsoft?", "Paul Allen", 1)] * 6))
    out = run("score-batch", "-i", golden_index, rows, "-o", tmp_path / "scored.jsonl").stdout
    assert "scored 12 rows" in out
    first = json.loads((tmp_path / "scored.jsonl").read_text().splitlines()[0])
    assert first["risk"] < 0.5 and first["label"] == 0 and "f_support_npmi" in first
    one_line_error(run("score-batch", "-i", golden_index, tmp_path / "none.jsonl", "-o", tmp_path / "x.jsonl",
                       ok=False), "none.jsonl: no such file")
    import shutil

    idx = tmp_path / "idx"
    shutil.copytree(golden_index, idx)
    assert "cross-validated AUROC 1.000" in run("calibrate", "-i", idx, rows, "--folds", "3").stdout
    assert json.loads(run("score", "-i", idx, "Who founded Microsoft?", "-a", "Paul Allen", "--policy", "calibrated",
                          "--json").stdout)["risk"] > 0.5


def test_stats_verify(tmp_path, golden_index):
    import shutil

    assert json.loads(run("stats", "-i", golden_index, "--verify", "--json").stdout)["verify"] == "ok"
    idx = tmp_path / "idx"
    shutil.copytree(golden_index, idx)
    data = idx / json.loads((idx / "manifest.json").read_text())["data_dir"]
    (data / "vocab.jsonl").write_text((data / "vocab.jsonl").read_text() + "\n")
    one_line_error(run("stats", "-i", idx, "--verify", ok=False), "vocab.jsonl: checksum mismatch")
