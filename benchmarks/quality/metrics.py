"""Ranking metrics with question-level bootstrap intervals, and the lexical baseline.

Every score here is a *risk*: higher = more likely hallucinated (label 1). Ties are handled
exactly (a rule that outputs 0/1 gets the AUROC of its single operating point), so a
policy is never flattered by an arbitrary order among equal scores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from cooc.scorer.model import auroc, fit_logistic, sigmoid, standardize


def _operating_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(threshold, true positives, false positives) when flagging s >= threshold, per distinct score."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last row of each tie group
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return s[last], tp, fp


def roc_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, tp, fp = _operating_points(y, s)
    n1, n0 = max(1, int(np.sum(y))), max(1, int(len(y) - np.sum(y)))
    return np.r_[0.0, fp / n0], np.r_[0.0, tp / n1]


def auprc(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision: precision at each distinct threshold weighted by the recall it adds."""
    _, tp, fp = _operating_points(y, s)
    n1 = int(np.sum(y))
    if n1 == 0:
        return float("nan")
    recall = tp / n1
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float = 0.1) -> float:
    """The lowest threshold (flag s >= t) whose false-positive rate is at most `fpr`; inf if none."""
    thr, _, fp = _operating_points(y, s)
    n0 = max(1, int(len(y) - np.sum(y)))
    ok = np.nonzero(fp / n0 <= fpr)[0]
    return float(thr[ok[-1]]) if len(ok) else float("inf")


def recall_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float = 0.1) -> float:
    """Share of hallucinations caught while flagging at most `fpr` of the correct answers."""
    y = np.asarray(y, dtype=bool)
    if not y.any():
        return float("nan")
    t = threshold_at_fpr(y, s, fpr)
    return float(np.mean(np.asarray(s)[y] >= t))


Metric = Callable[[np.ndarray, np.ndarray], float]


def bootstrap_ci(metric: Metric, y: np.ndarray, s: np.ndarray, groups: Sequence | None = None,
                 n: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile interval, resampling whole groups (a question with both its answers) so the
    two rows of one question never straddle a resample."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    g = np.arange(len(y)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    members = np.split(np.argsort(g, kind="mergesort"), np.cumsum(np.bincount(g))[:-1])
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
        v = metric(y[idx], s[idx])
        if not np.isnan(v):
            stats.append(v)
    if not stats:
        return float("nan"), float("nan")
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def cv_predict(x: np.ndarray, y: np.ndarray, groups: Sequence | None = None, folds: int = 5,
               seed: int = 0, l2: float = 1.0) -> np.ndarray:
    """Out-of-fold logistic-regression probabilities; a group (question) never spans folds."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    g = np.arange(len(y)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    fold_of_group = np.random.default_rng(seed).permutation(g.max() + 1) % folds
    fold = fold_of_group[g]
    out = np.empty(len(y))
    for k in range(folds):
        test, train = fold == k, fold != k
        mean, std = standardize(x[train])
        w = fit_logistic((x[train] - mean) / std, y[train], l2=l2)
        z = np.hstack([(x[test] - mean) / std, np.ones((int(test.sum()), 1))]) @ w
        out[test] = sigmoid(z)
    return out


_TOKEN = re.compile(r"\w+")


def lexical_overlap(question: str, answer: str) -> float:
    """Fraction of the answer's word tokens that the question already contains (the baseline):
    an answer that mostly restates the question adds little that could be checked."""
    a = [t.lower() for t in _TOKEN.findall(answer or "")]
    if not a:
        return 0.0
    q = {t.lower() for t in _TOKEN.findall(question or "")}
    return sum(t in q for t in a) / len(a)


__all__ = ["auprc", "auroc", "bootstrap_ci", "cv_predict", "lexical_overlap", "recall_at_fpr", "roc_curve",
           "threshold_at_fpr"]
