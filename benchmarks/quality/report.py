"""Turn scores into the tables, figure and per-row file of results.md."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cooc.indexer.atomic import atomic_path
from cooc.indexer.normalize import normalize_key, normalize_text

from .metrics import auprc, auroc, bootstrap_ci, recall_at_fpr, roc_curve, threshold_at_fpr


@dataclass
class MetricRow:
    """One signal's quality; every score is a risk (higher = more likely hallucinated/wrong)."""

    name: str
    n: int
    auroc: float
    auroc_ci: tuple[float, float]
    auprc: float
    auprc_ci: tuple[float, float]
    recall10: float
    recall10_ci: tuple[float, float]
    note: str = ""


def measure(name: str, y: Sequence[int], s: Sequence[float], groups: Sequence | None = None,
            boot: int = 1000, note: str = "") -> MetricRow:
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    return MetricRow(
        name, len(y),
        auroc(y, s), bootstrap_ci(auroc, y, s, groups, boot),
        auprc(y, s), bootstrap_ci(auprc, y, s, groups, boot),
        recall_at_fpr(y, s), bootstrap_ci(recall_at_fpr, y, s, groups, boot),
        note,
    )


def _ci(v: float, ci: tuple[float, float]) -> str:
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def metric_table(rows: Sequence[MetricRow]) -> str:
    out = ["| signal | n | AUROC [95% CI] | AUPRC [95% CI] | recall @ 10% FPR [95% CI] | note |",
           "|---|---:|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.name} | {r.n:,} | {_ci(r.auroc, r.auroc_ci)} | {_ci(r.auprc, r.auprc_ci)} | "
                   f"{_ci(r.recall10, r.recall10_ci)} | {r.note} |")
    return "\n".join(out)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def plot_roc(curves: dict[str, tuple[Sequence[int], Sequence[float]]], path: Path, title: str) -> bool:
    """Draw the ROC curves to `path`; False (and no file) when matplotlib (extra `bench`) is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6), dpi=110)
    for name, (y, s) in curves.items():
        fpr, tpr = roc_curve(np.asarray(y), np.asarray(s))
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auroc(np.asarray(y), np.asarray(s)):.3f}, n={len(y):,})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.axvline(0.1, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("false-positive rate (correct answers flagged)")
    ax.set_ylabel("true-positive rate (hallucinations caught)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return True


_YES_NO = {"yes", "no"}
_WORDS = re.compile(r"\w+")


def failure_category(question: str, right: str, right_report, halluc_report) -> str:
    """Why cooc did not rank the hallucinated answer above the right one (the first that applies)."""
    r_key = normalize_key(right)
    if r_key in _YES_NO:
        return "yes/no answer"
    q_keys = {e.key for e in right_report.entities if e.role == "question"}
    if r_key and (r_key in q_keys or f" {r_key} " in f" {' '.join(_WORDS.findall(normalize_text(question)))} "):
        return "comparison: the answer is a question entity"
    answer_ents = [e for e in right_report.entities if e.role == "answer"]
    if not answer_ents:
        return "no entity found in the right answer"
    if any(e.docs == 0 for e in answer_ents):
        return "name miss: the corpus never writes the right answer's name (as the rule reads it)"
    if halluc_report.risk < 0.5:
        return "the hallucinated answer's entities are linked in the corpus"
    return "other (the right answer's entity is never paired with the question's)"


def write_rows_csv(path: Path, columns: dict[str, Sequence]) -> None:
    names = list(columns)
    n = len(next(iter(columns.values())))
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(names)
        for i in range(n):
            w.writerow([_csv_value(columns[c][i]) for c in names])


def _csv_value(v):
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.6g}"
    return v


def who_catches_what(y: Sequence[int], cooc: Sequence[float], conf: Sequence[float], texts: Sequence[str],
                     examples: int = 5, seed: int = 0) -> tuple[Counter, dict[str, list[str]], tuple[float, float]]:
    """At 10% false-positive rate for each signal: which hallucinations each one catches."""
    y, cooc, conf = np.asarray(y, dtype=bool), np.asarray(cooc, dtype=float), np.asarray(conf, dtype=float)
    t_cooc, t_conf = threshold_at_fpr(y, cooc), threshold_at_fpr(y, conf)
    counts: Counter = Counter()
    picked: dict[str, list[str]] = {k: [] for k in ("cooc only", "confidence only", "both", "neither")}
    order = np.random.default_rng(seed).permutation(len(y))
    for i in order:
        if not y[i]:
            continue
        a, b = cooc[i] >= t_cooc, conf[i] >= t_conf
        key = "both" if a and b else "cooc only" if a else "confidence only" if b else "neither"
        counts[key] += 1
        if len(picked[key]) < examples:
            picked[key].append(texts[i])
    return counts, picked, (t_cooc, t_conf)
