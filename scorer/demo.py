"""`cooc demo`: build the bundled sample index and score a few real HaluEval questions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cooc.indexer.build import BuildConfig, BuildResult, build_index, format_build
from cooc.indexer.errors import CoocError
from cooc.indexer.runner import LocalRunner

from .index import Index
from .scorer import RiskReport, Scorer, format_report


@dataclass
class DemoExample:
    question: str
    answer: str
    label: str  # "right" or "hallucinated" (HaluEval's label, shown for comparison)


def load_examples(path: Path) -> list[DemoExample]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for r in rows:
        out.append(DemoExample(r["question"], r["right_answer"], "right"))
        out.append(DemoExample(r["question"], r["hallucinated_answer"], "hallucinated"))
    return out


def build_demo_index(data_dir: Path, index_dir: Path, progress: bool = True) -> BuildResult:
    sample = data_dir / "sample"
    if not sample.is_dir():
        raise CoocError(f"{sample}: sample corpus not found; run `cooc demo` from the repository root or pass --data")
    cfg = BuildConfig(
        inputs=[str(sample)],
        output=index_dir,
        gazetteer=data_dir / "gazetteer.tsv",
        runner=LocalRunner(),
        force=True,
        progress=progress,
    )
    return build_index(cfg)


def run_demo(
    data_dir: Path, index_dir: Path, progress: bool = True
) -> tuple[BuildResult, Iterator[tuple[DemoExample, RiskReport]]]:
    result = build_demo_index(data_dir, index_dir, progress)
    scorer = Scorer(Index.open(index_dir))
    examples = load_examples(data_dir / "demo_questions.jsonl")
    return result, ((ex, scorer.score(ex.question, ex.answer)) for ex in examples)


def format_demo(result: BuildResult | None, reports: Iterator[tuple[DemoExample, RiskReport]]) -> str:
    """What `cooc demo` prints: the build summary (None: left out) and each example's report."""
    out = ["", format_build(result), ""] if result is not None else []
    for example, report in reports:
        out.append(f"Q: {example.question}\nA: {example.answer}   (HaluEval: {example.label} answer)")
        out.append(format_report(report) + "\n")
    return "\n".join(out)
