"""The command line as a user meets it (issue #14): pipes, readable output, --json/-q, help, stdin, top.

On tests/scorer/corpus.py (14 documents; counts worked out there). Commands run in this process (see
tests/cli/test_cli.py); pipes and stdin need real `cooc` subprocesses (marked slow)."""

import csv
import json
import re
import subprocess
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cooc.cli.main import cli
from cooc.scorer import Index
from tests.cli.test_cli import one_line_error, run
from tests.helpers import cooc_argv
from tests.scorer.corpus import DOCS, build, write_docs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("surface-idx")
    return build(write_docs(d / "docs.jsonl"), d / "idx")


# ---- broken pipe -----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("args", [["stats"], ["lookup", "Microsoft", "Bill Gates"], ["top", "Paris"]])
def test_a_reader_that_closed_the_pipe_ends_the_command_quietly(index_dir, args):
    """The read end is closed before the command writes (as `| head -1` does when it is done)."""
    proc = subprocess.Popen(cooc_argv(args[0], "-i", index_dir, *args[1:]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err == b"", err.decode()


@pytest.mark.slow
def test_head_1_on_a_long_stream_exits_0(index_dir):
    """`cooc score - | head -1`: a real reader that closes after one line while the command still writes."""
    rows = "".join(json.dumps({"question": "Who founded Microsoft?", "answer": "Bill Gates"}) + "\n"
                   for _ in range(3000))
    proc = subprocess.Popen(cooc_argv("score", "-i", str(index_dir), "-", "--json"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=proc.stdout, stdout=subprocess.PIPE)
    proc.stdout.close()  # only `head` holds the read end now
    try:
        proc.stdin.write(rows.encode())
        proc.stdin.close()
    except BrokenPipeError:  # cooc may stop reading once its stdout is gone
        pass
    first = head.communicate(timeout=120)[0]
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert json.loads(first)["risk"] < 0.5
    assert proc.returncode == 0 and err == b"", err.decode()


# ---- readable lookup and stats -------------------------------------------------------------------

def test_lookup_is_readable_and_an_unknown_name_says_so(index_dir):
    text = run("lookup", "-i", index_dir, "microsoft", "Bill Gates").stdout
    assert text.splitlines() == [
        "'microsoft': 2 documents, 2 mentions, label NAME",
        "'Bill Gates': 1 document, 1 mention, label NAME",
        "pair: 1 document with both within 10 tokens of each other",
    ]
    proc = run("lookup", "-i", index_dir, "Micrsoft", ok=False)
    assert proc.returncode == 1 and "None" not in proc.stdout
    assert proc.stdout.strip() == "'Micrsoft': never written in the corpus, as a name or a phrase; did you mean 'Microsoft'?"
    looked = json.loads(run("lookup", "-i", index_dir, "Micrsoft", "--json", ok=False).stdout)
    assert looked["entities"] == [{"phrase": "Micrsoft", "docs": 0, "source": "phrase", "level": "document"}]
    assert looked["did_you_mean"] == {"Micrsoft": ["Microsoft"]}


def test_lookup_of_a_pruned_pair_says_it_is_a_sketch_bound(tmp_path):
    from cooc.indexer.merge import MergeOptions

    out = build(write_docs(tmp_path / "docs.jsonl"), tmp_path / "idx", merge=MergeOptions(min_pair_docs=2, sketch_mb=1))
    line = run("lookup", "-i", out, "Microsoft", "Bill Gates").stdout.splitlines()[-1]
    assert re.fullmatch(r"pair: at most 1 document with both within 10 tokens of each other \(count-min sketch "
                        r"upper bound; over-count bound 0\.\d, false positive rate (< 0\.01%|\d\.\d\d%)\)", line), line


def test_helicopter_is_shown_as_a_common_word(index_dir):
    assert "a common word, written in lowercase 2 times" in run("lookup", "-i", index_dir, "Helicopter").stdout


def test_stats_is_readable_text_with_separators(tmp_path):
    out = build(write_docs(tmp_path / "docs.jsonl", DOCS * 100), tmp_path / "idx")
    text = run("stats", "-i", out).stdout
    info = json.loads(run("stats", "-i", out, "--json").stdout)
    assert "None" not in text and "{" not in text and "[" not in text
    assert info["documents"] == 1400 and info["tokens"] > 1000
    assert re.search(rf"^documents\s+1,400 from 1 input file: {info['tokens']:,} tokens", text, re.M), text
    assert re.search(r"^sketch\s+none \(the exact table is complete\)", text, re.M)
    pruned = tmp_path / "pruned"
    run("merge", out, "-o", pruned, "--min-pair-docs", "2", "--sketch-mb", "1", "-q")  # every pair is in 100+ docs
    text = run("stats", "-i", pruned, "--verify").stdout
    assert re.search(r"^sketch\s+none \(the exact table is complete\)", text, re.M), text
    assert re.search(r"^pairs\s+15 \(all in the exact table, HyperLogLog estimate \d+\)$", text, re.M), text
    assert re.search(r"^verify\s+ok$", text, re.M)
    run("merge", out, "-o", pruned, "--force", "--min-pair-docs", "101", "--sketch-mb", "1", "-q")  # 100 docs: pruned
    text = run("stats", "-i", pruned, "--verify").stdout
    assert re.search(r"^sketch\s+4 x 65,536, rows filled 0\.\d\d%, .*, false positive rate < 0\.01%$", text, re.M), text
    assert re.search(r"^pairs\s+15 \(\d in the exact table \(those in >= 101 documents\), HyperLogLog", text, re.M), text
    assert re.search(r"^verify\s+ok$", text, re.M)


# ---- score: stdin, did you mean ------------------------------------------------------------------

@pytest.mark.slow  # three fresh interpreters: `score -` reads the real stdin file descriptor
def test_score_reads_jsonl_rows_from_stdin_one_report_per_row(index_dir):
    rows = [{"question": "Who founded Microsoft?", "answer": "Bill Gates"},
            {"question": "Who founded Microsoft?", "answer": "Paul Allen"},
            {"question": "What is the capital of France?"}]  # a row may omit the answer
    stdin = "".join(json.dumps(r) + "\n" for r in rows)
    proc = subprocess.run(cooc_argv("score", "-i", str(index_dir), "--stdin", "--json"), input=stdin, text=True,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["answer"] for r in reports] == ["Bill Gates", "Paul Allen", None]
    assert reports[0]["risk"] < 0.5 < reports[1]["risk"] == 1.0
    text = subprocess.run(cooc_argv("score", "-i", str(index_dir), "-"), input=stdin, text=True,
                          capture_output=True).stdout  # QUESTION '-' is --stdin
    assert text.count("risk ") == 3 and "'Microsoft' + 'Bill Gates': 1 document (exact" in text
    proc = subprocess.run(cooc_argv("score", "-i", str(index_dir), "-"), input=stdin + "{oops\n", text=True,
                          capture_output=True)
    assert proc.returncode == 1
    one_line_error(proc, "<stdin>:4: not valid JSON")


@pytest.mark.slow
def test_score_stdin_answers_each_row_before_the_next_arrives(index_dir):
    """One process, many questions: a caller writes a row and reads its report back, row by row."""
    proc = subprocess.Popen(cooc_argv("score", "-i", str(index_dir), "--stdin", "--json"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        for answer, risky in (("Bill Gates", False), ("Paul Allen", True), ("Bill Gates", False)):
            proc.stdin.write(json.dumps({"question": "Who founded Microsoft?", "answer": answer}) + "\n")
            proc.stdin.flush()
            report = json.loads(proc.stdout.readline())  # blocks until this row is answered
            assert report["answer"] == answer and (report["risk"] > 0.5) == risky
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0


def test_score_suggests_a_spelling_for_a_name_the_corpus_never_writes(index_dir):
    text = run("score", "-i", index_dir, "Who founded Microsoft?", "-a", "Bill Gatez").stdout
    assert "did you mean 'Bill Gates' for 'Bill Gatez'?" in text
    report = json.loads(run("score", "-i", index_dir, "Who founded Microsoft?", "-a", "Bill Gatez", "--json").stdout)
    assert report["did_you_mean"] == {"Bill Gatez": ["Bill Gates"]}
    proc = run("score", "-i", index_dir, ok=False)
    assert proc.returncode == 2 and "give a QUESTION" in proc.stderr
    proc = run("score", "-i", index_dir, "Who?", "--stdin", ok=False)
    assert proc.returncode == 2 and "give no QUESTION" in proc.stderr


# ---- top -----------------------------------------------------------------------------------------

def test_top_lists_neighbours_by_documents_and_by_npmi(index_dir):
    text = run("top", "-i", index_dir, "paris").stdout
    by_docs = text.split("by documents together:\n")[1].split("\n\n")[0].splitlines()
    # Paris-France 2 documents, Paris-Lyon 1 (tests/scorer/corpus.py)
    assert [re.sub(r"\s+", " ", x.strip()) for x in by_docs] == [
        "1. France 2 documents together (of 2), NPMI +1.00",
        "2. Lyon 1 document together (of 3), NPMI +0.32",  # ln(1*14/(2*3)) / ln(14)
    ]
    got = json.loads(run("top", "-i", index_dir, "Lyon", "--by", "npmi", "--json").stdout)
    assert {n["name"] for n in got["by_npmi"]} == {"Paris", "France"} and "by_docs" not in got
    assert [n["npmi"] for n in got["by_npmi"]] == [pytest.approx(0.321, abs=1e-3)] * 2
    proc = run("top", "-i", index_dir, "Pariss", ok=False)
    assert proc.returncode == 1 and "did you mean 'Paris'?" in proc.stdout


# ---- score-batch ---------------------------------------------------------------------------------

def test_score_batch_missing_answer_field_is_an_error(index_dir, tmp_path):
    rows = tmp_path / "halueval.jsonl"  # HaluEval's fields: no `answer`
    rows.write_text(json.dumps({"question": "Who founded Microsoft?", "right_answer": "Bill Gates"}) + "\n")
    proc = run("score-batch", "-i", index_dir, rows, "-o", tmp_path / "out.jsonl", ok=False)
    one_line_error(proc, "row 1", "no field 'answer'", "right_answer", "--answer-field")
    assert not (tmp_path / "out.jsonl").exists()
    assert "scored 1 rows" in run("score-batch", "-i", index_dir, rows, "-o", tmp_path / "out.jsonl",
                                  "--answer-field", "right_answer").stdout


def test_score_batch_writes_reason_and_csv_by_suffix(index_dir, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"question": "Who founded Microsoft?", "answer": a, "tags": [a]}) + "\n"
                            for a in ("Bill Gates", "Paul Allen")))
    summary = json.loads(run("score-batch", "-i", index_dir, rows, "-o", tmp_path / "s.csv", "--json").stdout)
    assert summary["rows"] == 2 and summary["output"].endswith("s.csv")
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["answer"] for r in table] == ["Bill Gates", "Paul Allen"]
    assert table[1]["reason"] == "answer name 'Paul Allen' is never written in the corpus"
    assert json.loads(table[0]["tags"]) == ["Bill Gates"] and float(table[1]["risk"]) == 1.0
    run("score-batch", "-i", index_dir, rows, "-o", tmp_path / "s.parquet", "-q")
    assert pq.read_table(tmp_path / "s.parquet").column("reason").to_pylist()[1] == table[1]["reason"]
    one_line_error(run("score-batch", "-i", index_dir, rows, "-o", tmp_path / "s.tsv", ok=False),
                   ".parquet, .jsonl, .csv")


# ---- --text-field title,text ---------------------------------------------------------------------

def test_several_text_fields_are_one_document(tmp_path):
    rows = [{"title": "Bill Gates", "text": "He founded Microsoft in Albuquerque."},
            {"title": "Albuquerque", "text": None},  # a null field is left out
            {"title": "Lyon", "text": "Tourists visit Paris."}]
    jsonl = tmp_path / "wiki.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "wiki.parquet")
    for src in (jsonl, tmp_path / "wiki.parquet"):
        out = tmp_path / f"idx-{src.suffix}"
        run("build", src, "-o", out, "--text-field", "title,text", "-q")
        ix = Index.open(out)
        assert ix.manifest["corpus"]["documents"] == 3
        gates, microsoft = ix.entity("Bill Gates"), ix.entity("Microsoft")
        assert gates.docs == 1 and microsoft.docs == 1 and ix.pair(gates.id, microsoft.id).docs == 1
        assert ix.entity("Bill Gates He") is None  # the title ends a sentence of its own
    only_text = tmp_path / "idx-text"
    run("build", jsonl, "-o", only_text, "-q", "--text-field", "text")
    assert Index.open(only_text).entity("Bill Gates") is None
    one_line_error(run("build", jsonl, "-o", tmp_path / "x", "--text-field", "title,body", "-q", ok=False),
                   "no field 'body'", "--text-field")


# ---- --json, -q, -h, help ------------------------------------------------------------------------

LONG_RUNNING = ("build", "vocab", "merge", "calibrate", "score-batch", "demo", "serve")


def test_every_long_running_command_takes_q_and_the_summarizing_ones_json():
    for name in LONG_RUNNING:
        opts = {o for p in cli.commands[name].params for o in p.opts}
        assert "-q" in opts, name
        assert name == "serve" or "--json" in opts, name


def test_every_option_of_every_command_has_help():
    def walk(cmd: click.Command, path: str):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    missing = [f"{path} {p.opts[0]}" for path, cmd in walk(cli, "cooc") for p in cmd.params
               if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert missing == []


@pytest.mark.parametrize("args", [["-h"], *[[name, "-h"] for name in sorted(cli.commands)]])
def test_h_is_help(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "Usage:" in result.output


def test_build_merge_json_summaries_and_readable_progress(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl", DOCS * 800)  # 11,200 documents
    proc = run("build", docs, "-o", tmp_path / "idx", "--json")
    summary = json.loads(proc.stdout)
    assert summary["merged"]["documents"] == 11200 and summary["shards"] == 1
    assert "docs=11,200" in proc.stderr
    assert not re.search(r"\d[eE][+-]\d", proc.stderr), proc.stderr  # no 1e+4 anywhere
    merged = json.loads(run("merge", tmp_path / "idx", "-o", tmp_path / "m", "--json", "-q").stdout)
    assert merged["documents"] == 11200 and merged["parts"] == 1
    assert run("build", docs, "-o", tmp_path / "q", "-q").stdout == ""


def test_calibrate_json_and_quiet(index_dir, tmp_path):
    import shutil

    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"question": "Who founded Microsoft?", "answer": a, "label": y}) + "\n"
                            for a, y in [("Bill Gates", 0), ("Paul Allen", 1)] * 6))
    idx = tmp_path / "idx"
    shutil.copytree(index_dir, idx, symlinks=True)
    model = json.loads(run("calibrate", "-i", idx, rows, "--folds", "3", "--json", "-q").stdout)
    assert model["n"] == 12 and model["positives"] == 6 and model["cv_auroc"] == 1.0
    assert run("calibrate", "-i", idx, rows, "--folds", "3", "-q").stdout == ""


@pytest.mark.slow
def test_vocab_json_and_quiet(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl")
    out = tmp_path / "v.jsonl"
    got = json.loads(run("vocab", docs, "-o", out, "--min-count", "1", "--ner-processes", "1", "--json", "-q").stdout)
    assert got == {"output": str(out), "names": len(out.read_text().splitlines())} and got["names"] > 0


@pytest.mark.slow
def test_demo_quiet_prints_only_the_reports(tmp_path):
    proc = run("demo", "--data", ROOT / "data", "-o", tmp_path / "demo", "-q")
    assert proc.stdout.startswith("Q: ") and "counted" not in proc.stdout and "merged" not in proc.stdout
    assert proc.stderr == ""
    summary = json.loads(run("demo", "--data", ROOT / "data", "-o", tmp_path / "demo", "-q", "--json").stdout)
    assert summary["build"]["shards_counted"] == 0 and len(summary["reports"]) == 8


# ---- README and Makefile -------------------------------------------------------------------------

def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = "\n".join(readme.split("```")[1::2])  # the code blocks
    used = set(re.findall(r"^\s*cooc ([a-z-]+)", blocks, re.M)) | set(re.findall(r"`cooc ([a-z-]+)", readme))
    assert used and used <= set(cli.commands), used - set(cli.commands)


def test_make_quality_without_the_corpus_says_where_to_get_it(tmp_path):
    proc = subprocess.run(["make", "-s", "quality-data", f"CORPUS={tmp_path}/none", f"EVAL={tmp_path}/none.jsonl"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "data/SOURCES.md" in proc.stdout + proc.stderr
