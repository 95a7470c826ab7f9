"""The `cooc` commands on real files: one-line errors, non-zero exits, never a traceback.

The commands run in this process (click's CliRunner: the same output and exit status, without a fresh
interpreter per call); the installed entry point itself, and ranks that must be separate processes, run
as real subprocesses (marked slow). The corpus is tests/scorer/corpus.py (14 documents; its counts are
worked out there)."""

import gzip
import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cooc.cli.main import cli
from cooc.indexer.normalize import normalize_key
from cooc.scorer import Index
from tests.helpers import invoke_cooc, run_cooc
from tests.scorer.corpus import ALIAS_DOCS, DOCS, GAZETTEER, build, write_docs


def run(*args, ok=True, process=False):
    """`cooc ARGS` in this process, or (process=True) in a fresh interpreter as a user runs it."""
    proc = run_cooc(*args) if process else invoke_cooc(*args)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert (proc.returncode == 0) == ok, proc.stderr
    return proc


def one_line_error(proc, *fragments):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    for f in fragments:
        assert f in lines[0]


def write_gz(path, docs=DOCS):
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": f"q{i}", "text": t}) + "\n" for i, t in enumerate(docs))
    return path


def table(index_dir):
    """Every name (hash, docs, mentions) and pair (hash a, hash b, docs) of an index: ids may differ across builds."""
    ix = Index.open(index_dir)
    names = sorted(ix.sql("SELECT hash, docs, mentions FROM names"))
    pairs = sorted(ix.sql("SELECT least(x.hash, y.hash), greatest(x.hash, y.hash), p.docs FROM pairs p "
                          "JOIN names x ON x.id = p.a JOIN names y ON y.id = p.b"))
    return names, pairs


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-idx")
    return build(write_docs(d / "docs.jsonl"), d / "idx")


def test_build_score_lookup_stats_end_to_end(tmp_path):
    out = tmp_path / "idx"
    proc = run("build", write_gz(tmp_path / "docs.jsonl.gz"), "-o", out, "--window", "10")
    assert "14 documents" in proc.stdout and "(1 of them common words)" in proc.stdout and "from 1 parts" in proc.stdout
    stats = json.loads(run("stats", "-i", out, "--json").stdout)
    ix = Index.open(out)
    assert (stats["documents"], stats["window"], stats["common_words"], stats["aliases"]) == (14, 10, 1, 0)
    assert stats["names"] == ix.n_names and stats["pairs"] == ix.sql("SELECT count(*) FROM pairs")[0][0] > 0
    assert stats["tokens"] > 0 and stats["format_version"] == 2
    assert f"{ix.n_names:,} names" in proc.stdout
    lower = json.loads(run("score", "-i", out, "who founded microsoft", "--json").stdout)
    upper = json.loads(run("score", "-i", out, "Who founded Microsoft?", "--json").stdout)
    assert [e["name"] for e in lower["entities"]] == [e["name"] for e in upper["entities"]] == ["Microsoft"]
    assert lower["entities"][0]["docs"] == 2 and lower["risk"] == upper["risk"]
    text = run("score", "-i", out, "Who founded Microsoft?", "--answer", "bill gates").stdout
    assert "'Microsoft' + 'Bill Gates': 1 document (exact" in text
    unseen = run("score", "-i", out, "Who founded Microsoft?", "-a", "Paul Allen").stdout
    assert "'Paul Allen': never written in the corpus" in unseen and unseen.startswith("risk 1.000")
    looked = json.loads(run("lookup", "-i", out, "microsoft", "Bill Gates", "--json").stdout)
    assert looked["entities"][0]["name"] == "Microsoft" and looked["pair"]["docs"] == 1 and looked["window"] == 10
    assert json.loads(run("lookup", "-i", out, "Atlantis", "--json", ok=False).stdout)["entities"][0]["source"] == "phrase"
    ev = run("evidence", "-i", out, "Microsoft", "Bill Gates").stdout
    assert ev.startswith("'Microsoft' + 'Bill Gates': 1 document") and "[Bill Gates]" in ev and "[Microsoft]" in ev
    docs = json.loads(run("evidence", "-i", out, "Paris", "France", "--window", "3", "--json").stdout)
    assert docs["documents"] == 2 and docs["window"] == 3 and all(d["span"] <= 3 for d in docs["docs"])
    top = json.loads(run("retrieve", "-i", out, "capital of France", "-k", "1", "--json").stdout)
    assert len(top) == 1 and "France" in top[0]["snippet"]
    shown = run("score", "-i", out, "Who founded Microsoft?", "-a", "Bill Gates", "--evidence", "1").stdout
    assert "[Bill Gates]" in shown


@pytest.mark.slow
def test_the_entry_point_in_a_fresh_interpreter(tmp_path, index_dir):
    """`python -m cooc.cli.main` as the `cooc` script runs it: a report on stdout, a one-line error and status 1."""
    text = run("score", "-i", index_dir, "Who founded Microsoft?", "--answer", "bill gates", process=True).stdout
    assert "'Microsoft' + 'Bill Gates': 1 document (exact" in text
    one_line_error(run("stats", "-i", tmp_path / "nowhere", ok=False, process=True), "no such index directory")


def test_removed_vocabulary_flags_are_usage_errors(tmp_path, index_dir):
    docs = write_docs(tmp_path / "docs.jsonl")
    for flag in ("--no-ner", "--rules", "--rules-min-count"):
        proc = run("build", docs, "-o", tmp_path / "x", flag, ok=False)
        assert proc.returncode == 2 and f"No such option '{flag}'" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_bad_inputs_give_one_line_errors(tmp_path):
    good = write_gz(tmp_path / "ok.jsonl.gz", DOCS * 100)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(good.read_bytes()[:300])
    one_line_error(run("build", cut, "-o", tmp_path / "a", "-q", ok=False), "cut.jsonl.gz", "truncated")
    assert not (tmp_path / "a" / "manifest.json").exists()  # no index was published

    proc = run("build", tmp_path / "missing.jsonl", "-o", tmp_path / "b", "-q", ok=False)
    one_line_error(proc, "missing.jsonl", "no such file or directory")

    not_index = tmp_path / "plain"
    not_index.mkdir()
    one_line_error(run("score", "-i", not_index, "Who?", ok=False), "not a cooc index")
    one_line_error(run("stats", "-i", tmp_path / "nowhere", ok=False), "no such index directory")

    other = tmp_path / "other.jsonl"
    other.write_text('{"body": "Paris"}\n')
    one_line_error(run("build", other, "-o", tmp_path / "c", "-q", ok=False), "no field 'text'", "keys found: body",
                   "--text-field")

    proc = run("build", good, "-o", tmp_path / "d", "--window", "wide", ok=False)
    assert "window must be a number of tokens or 'doc'" in proc.stderr

    gaz = tmp_path / "gaz.tsv"
    gaz.write_text(GAZETTEER)
    one_line_error(run("build", good, "-o", tmp_path / "e", "--gazetteer", gaz, "--vocab", gaz, ok=False),
                   "--gazetteer", "--vocab", "not both")
    one_line_error(run("build", good, "-o", tmp_path / "f", "--gazetteer", tmp_path / "nope.tsv", ok=False),
                   "nope.tsv", "no such gazetteer file")


def test_counted_skips_are_reported(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "Tourists visit Paris and Lyon."}\n{"text": 12}\n{oops\n')
    proc = run("build", path, "-o", tmp_path / "idx")
    assert "skipped 2 malformed records" in proc.stdout and "1 documents" in proc.stdout


def test_an_index_exists_unless_forced(tmp_path, index_dir):
    docs = write_docs(tmp_path / "docs.jsonl")
    out = tmp_path / "idx"
    run("build", docs, "-o", out, "-q")
    one_line_error(run("build", docs, "-o", out, "-q", ok=False), "an index already exists", "--force")
    run("build", docs, "-o", out, "-q", "--force", "--window", "doc")
    assert json.loads(run("stats", "-i", out, "--json").stdout)["window"] == "doc"


def test_gazetteer_build_maps_aliases_to_the_canonical_name(tmp_path):
    gaz = tmp_path / "gaz.tsv"
    gaz.write_text(GAZETTEER)
    out = tmp_path / "idx"
    run("build", write_docs(tmp_path / "docs.jsonl", DOCS + ALIAS_DOCS), "-o", out, "--gazetteer", gaz, "-q")
    looked = json.loads(run("lookup", "-i", out, "msft", "William H. Gates", "--json").stdout)
    assert [e["name"] for e in looked["entities"]] == ["Microsoft", "Bill Gates"]
    assert [e["docs"] for e in looked["entities"]] == [4, 2] and looked["pair"]["docs"] == 2
    assert json.loads(run("stats", "-i", out, "--json").stdout)["aliases"] == 3
    text = run("score", "-i", out, "Who founded MSFT?", "-a", "Bill Gates").stdout
    assert "'Microsoft' + 'Bill Gates': 2 documents (exact" in text


def test_vocab_writes_a_ner_list_and_build_vocab_counts_only_it(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl")
    vocab = tmp_path / "vocab.jsonl"
    proc = run("vocab", docs, "-o", vocab, "--min-count", "1", "--ner-processes", "1")
    entries = [json.loads(line) for line in vocab.read_text().splitlines()]
    assert f"wrote {vocab}: {len(entries):,} names" in proc.stdout
    assert all(set(e) == {"name", "aliases", "label"} and e["label"] != "DATE" for e in entries)
    listed = {normalize_key(e["name"]) for e in entries}
    assert {"microsoft", "bill gates", "paris"} <= listed and "1975" not in listed  # NER names; no number
    out = tmp_path / "idx"
    run("build", docs, "-o", out, "--vocab", vocab, "--window", "10", "-q")
    ix = Index.open(out)
    keys = {normalize_key(n) for (n,) in ix.sql("SELECT name FROM names")}
    assert keys and keys <= listed  # only the list is counted ...
    assert ix.entity("1975") is None and ix.entity("Helicopter") is None  # ... not what the rule alone would find
    assert ix.entity("Microsoft").docs == 2 and ix.entity("Microsoft").label == "ORG"
    assert ix.pair(ix.entity("Microsoft").id, ix.entity("Bill Gates").id).docs == 1
    report = json.loads(run("score", "-i", out, "Who founded Microsoft?", "-a", "Zeppelin", "--json").stdout)
    # a name off the list has no name count, but the evidence store sees every word: never written
    assert report["entities"][-1]["name"] == "Microsoft" and report["risk"] == 1.0
    assert [(x["source"], x["docs"]) for x in report["support"]] == [("phrase", 0)]


@pytest.mark.slow
def test_ranks_and_merge_from_the_command_line_equal_one_build(tmp_path, index_dir):
    txt = tmp_path / "txt"
    txt.mkdir()
    for i, text in enumerate(DOCS):
        (txt / f"q{i:02d}.txt").write_text(text + "\n", encoding="utf-8")
    out = tmp_path / "idx"
    ranks = [  # both ranks at once, as a Slurm array would run them
        subprocess.Popen([sys.executable, "-m", "cooc.cli.main", "build", str(txt), "-o", str(out),
                          "--rank", str(rank), "--world-size", "2", "--window", "10"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)
    ]
    for proc in ranks:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert "run `cooc merge`" in stdout
    assert not (out / "manifest.json").exists()
    merged = run("merge", out, "-o", out, "--sketch-mb", "1", "--buckets", "4", "--workers", "2").stdout
    assert "14 documents" in merged and "from 14 parts in 4 buckets" in merged
    assert table(out) == table(index_dir)  # sharded and merged = one build of the same documents
    stats = json.loads(run("stats", "-i", out, "--json").stdout)
    # the distinct-pair estimate also sees Helicopter-Chicago, which the exact table drops (a common word)
    assert stats["pairs_hll_estimate"] in (stats["pairs"], stats["pairs"] + 1)
    assert stats["sketch"] is None  # a complete exact table answers every pair: no sketch
    one_line_error(run("merge", out, "-o", out, ok=False), "--force")

    # pruned: only Paris-France (2 documents) stays exact; the others are answered by the sketch
    pruned = tmp_path / "pruned"
    run("merge", out, "-o", pruned, "--min-pair-docs", "2", "--sketch-mb", "1")
    stats = json.loads(run("stats", "-i", pruned, "--json").stdout)
    assert (stats["pairs_in_exact_table"], stats["min_pair_docs"], stats["sketch"]["depth"]) == (1, 2, 4)
    ix = Index.open(pruned)
    assert ix.pair(ix.entity("Paris").id, ix.entity("France").id).docs == 2
    gates = ix.pair(ix.entity("Bill Gates").id, ix.entity("Microsoft").id)
    assert (gates.source, gates.docs) == ("sketch", 1) and gates.bound is not None  # at most min-pair-docs - 1
    never = ix.pair(ix.entity("Bill Gates").id, ix.entity("France").id)
    assert never.source == "sketch" and never.docs in (0, 1)


def test_cli_runner_rejects_unknown_policy(index_dir):
    result = CliRunner().invoke(cli, ["score", "-i", str(index_dir), "Paris?", "--policy", "nope"])
    assert result.exit_code == 2 and "Invalid value for '--policy'" in result.output


@pytest.mark.parametrize("args", [["--help"], ["build", "--help"], ["score", "--help"], ["vocab", "--help"]])
def test_help(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "Usage:" in result.output


def test_build_help_lists_the_one_pass_flags():
    out = CliRunner().invoke(cli, ["build", "--help"]).output
    for flag in ("--gazetteer", "--vocab", "--no-inner", "--memory-mb", "--window"):
        assert flag in out
    assert "--no-ner" not in out and "--rules" not in out


def test_score_batch_and_calibrate_from_the_command_line(tmp_path, index_dir):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"question": q, "answer": a, "label": y}) + "\n" for q, a, y in [
        ("Who founded Microsoft?", "Bill Gates", 0), ("Who founded Microsoft?", "Paul Allen", 1)] * 6))
    out = run("score-batch", "-i", index_dir, rows, "-o", tmp_path / "scored.jsonl").stdout
    assert "scored 12 rows" in out
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert [r["label"] for r in scored] == [0, 1] * 6
    assert scored[0]["risk"] < 0.5 < scored[1]["risk"] == 1.0 and "f_support_npmi" in scored[0]
    one_line_error(run("score-batch", "-i", index_dir, tmp_path / "none.jsonl", "-o", tmp_path / "x.jsonl",
                       ok=False), "none.jsonl: no such file")
    idx = tmp_path / "idx"
    shutil.copytree(index_dir, idx, symlinks=True)
    assert "cross-validated AUROC 1.000" in run("calibrate", "-i", idx, rows, "--folds", "3").stdout
    assert json.loads(run("score", "-i", idx, "Who founded Microsoft?", "-a", "Paul Allen", "--policy", "calibrated",
                          "--json").stdout)["risk"] > 0.5


def test_stats_verify(tmp_path, index_dir):
    assert json.loads(run("stats", "-i", index_dir, "--verify", "--json").stdout)["verify"] == "ok"
    idx = tmp_path / "idx"
    shutil.copytree(index_dir, idx, symlinks=True)
    data = idx / json.loads((idx / "manifest.json").read_text())["data_dir"]
    with open(data / "names.text.bin", "ab") as fh:
        fh.write(b"x")
    one_line_error(run("stats", "-i", idx, "--verify", ok=False), "names.text.bin: checksum mismatch")
