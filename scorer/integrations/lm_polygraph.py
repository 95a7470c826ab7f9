"""lm-polygraph estimator: cooc risk as a sequence-level uncertainty (higher = more uncertain).

lm-polygraph builds estimators by module name: list `cooc.scorer.integrations.lm_polygraph`
as an estimator with config `{"index_path": "...", "policy": "graded"}` and its factory calls
`load_estimator(config)`. The estimator needs the statistics `input_texts` (the prompts) and
`greedy_texts` (the model's answers), and returns one value per text. When lm-polygraph is
installed the class derives from its `Estimator`; without it the class keeps the same
interface (`stats_dependencies`, `level`, `__str__`, `__call__`) so it can be used and tested
on its own (lm-polygraph needs torch and transformers, which cooc does not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..index import Index
from ..scorer import Scorer

try:  # pragma: no cover - depends on the environment
    from lm_polygraph.estimators.estimator import Estimator as _Base

    HAVE_LM_POLYGRAPH = True
except ImportError:
    _Base = object
    HAVE_LM_POLYGRAPH = False


class CoocRisk(_Base):
    def __init__(self, index_path: str | Path, policy: str = "graded"):
        if HAVE_LM_POLYGRAPH:
            super().__init__(["input_texts", "greedy_texts"], "sequence")
        else:
            self.stats_dependencies = ["input_texts", "greedy_texts"]
            self.level = "sequence"
        self.policy = policy
        self.scorer = Scorer(Index.open(index_path), policy)

    def __str__(self) -> str:
        return f"CoocRisk_{self.policy}"

    def __call__(self, stats: dict) -> np.ndarray:
        reports = self.scorer.score_many(list(stats["input_texts"]), list(stats["greedy_texts"]))
        return np.array([r.risk for r in reports], dtype=float)


def load_estimator(config: dict) -> CoocRisk:
    return CoocRisk(**config)
