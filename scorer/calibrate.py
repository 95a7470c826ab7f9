"""`cooc calibrate`: score labelled rows, fit the `calibrated` policy's model on their features, store it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from cooc.indexer.errors import CoocError

from .batch import iter_rows, score_rows
from .features import FEATURES
from .index import Index
from .model import DEFAULT_FOLDS, CalibrationModel, fit, index_data_checksum, save_model
from .scorer import Scorer

__all__ = ["calibrate"]


def calibrate(index_path: Path, labelled: Path, question_field: str = "question", answer_field: str | None = "answer",
              label_field: str = "label", folds: int = DEFAULT_FOLDS, progress: bool = False) -> CalibrationModel:
    """Score every labelled row, fit the model on its features, store it in the index."""
    scorer = Scorer(Index.open(index_path), "graded")
    xs, ys = [], []
    with tqdm(unit=" rows", desc="scoring", disable=not progress, dynamic_ncols=True, delay=1.0) as bar:
        for rows in iter_rows(Path(labelled)):
            for i, r in enumerate(rows, start=len(ys) + 1):
                label = r.get(label_field)
                if label not in (0, 1, True, False):
                    raise CoocError(f"{labelled}: row {i}: '{label_field}' must be 0 or 1, got {label!r}")
            reports = score_rows(scorer, rows, question_field, answer_field, str(labelled), len(ys) + 1)
            xs += [[rep.features[k] for k in FEATURES] for rep in reports]
            ys += [int(r[label_field]) for r in rows]
            bar.update(len(rows))
    model = fit(np.array(xs, dtype=float), np.array(ys, dtype=float), folds)
    model.index_data = index_data_checksum(scorer.index.manifest)
    save_model(index_path, model)
    return model
