"""The `calibrated` policy's model: L2-regularized logistic regression on the report features.

Newton's method in numpy (a dozen features need nothing heavier), on standardized features, with
k-fold cross-validated AUROC and Brier score so a user sees how well the corpus signal separates
their labels before trusting it. The model is stored in the index and tied to the data it was
fitted on. `cooc calibrate` (calibrate.py) scores labelled rows and calls `fit`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cooc.indexer.atomic import write_json_atomic
from cooc.indexer.errors import CoocError
from cooc.indexer.layout import DUCKDB_FILE
from cooc.indexer.store import read_manifest

from .features import FEATURES
from .options import DEFAULT_FOLDS

__all__ = ["CALIBRATION_FILE", "DEFAULT_FOLDS", "CalibrationModel", "auroc", "fit", "fit_logistic", "load_model",
           "save_model", "sigmoid", "standardize"]

CALIBRATION_FILE = "calibration.json"


def index_data_checksum(manifest: dict) -> str:
    """What the model was fitted on: a digest of the checksums of the files the scorer reads. A
    rebuild over other data changes it; the same data counted again keeps it."""
    files = manifest.get("files") or {}
    listed = sorted((name, meta.get("sha256", "")) for name, meta in files.items() if name != DUCKDB_FILE)
    return hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16]


def sigmoid(z):
    """The logistic function of a number or an array, clipped so that exp never overflows."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(scores, dtype=float), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inverse]  # 1-based, ties share their mean rank
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """Weights (last = bias) maximizing the L2-penalized log-likelihood, by Newton's method."""
    xb = np.hstack([x, np.ones((x.shape[0], 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iters):
        p = sigmoid(xb @ w)
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


@dataclass
class CalibrationModel:
    features: list[str]
    mean: list[float]
    std: list[float]
    weights: list[float]  # per feature, then the bias
    cv_auroc: float
    cv_brier: float
    n: int
    positives: int
    index_data: str = ""  # index_data_checksum of the index it was fitted on

    def predict(self, feats: dict[str, float]) -> float:
        z = self.weights[-1]
        for name, m, s, w in zip(self.features, self.mean, self.std, self.weights, strict=False):
            z += w * (feats.get(name, 0.0) - m) / s
        return float(sigmoid(z))


def standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return mean, std


def _folds(n: int, k: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(seed).permutation(n)
    for i in range(k):
        test = order[i::k]
        yield np.setdiff1d(order, test), test


def fit(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> CalibrationModel:
    if len(y) < 2 * folds or y.min() == y.max():
        raise CoocError(f"calibration needs both labels and at least {2 * folds} rows; got {len(y)} rows")
    pred = np.empty(len(y))
    for train, test in _folds(len(y), folds, seed):
        mean, std = standardize(x[train])
        w = fit_logistic((x[train] - mean) / std, y[train])
        z = ((x[test] - mean) / std) @ w[:-1] + w[-1]
        pred[test] = sigmoid(z)
    mean, std = standardize(x)
    w = fit_logistic((x - mean) / std, y)
    return CalibrationModel(list(FEATURES), mean.tolist(), std.tolist(), w.tolist(), auroc(y, pred),
                            float(np.mean((pred - y) ** 2)), len(y), int(y.sum()))


def save_model(index_path: Path, model: CalibrationModel) -> None:
    write_json_atomic(Path(index_path) / CALIBRATION_FILE, asdict(model))


def load_model(index_path: Path | None, manifest: dict | None = None) -> CalibrationModel:
    """The index's model; refused when it was fitted on another build (the index's data changed)."""
    path = Path(index_path or ".") / CALIBRATION_FILE
    if not path.is_file():
        raise CoocError(f"{index_path}: no calibration model; fit one with `cooc calibrate -i {index_path} LABELLED.jsonl`")
    try:
        model = CalibrationModel(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise CoocError(f"{path}: corrupt calibration model ({exc}); fit it again with `cooc calibrate`") from None
    expected = index_data_checksum(manifest if manifest is not None else read_manifest(Path(index_path or ".")))
    if model.index_data != expected:
        raise CoocError(f"{path}: fitted on another build of this index (data {model.index_data or 'unrecorded'}, the "
                        f"index now {expected}); its risks and AUROC do not apply: fit it again with `cooc calibrate`")
    return model
