"""uqlm-style confidence scorer: confidence = 1 - cooc risk, in [0, 1], higher = more trustworthy.

uqlm's scorers return per-response confidence scores for (prompt, response) pairs, to be
thresholded or ensembled with other scorers; `CoocConfidenceScorer.score` does the same from
corpus counts alone, so it can sit beside uqlm's black-box and white-box scorers in an ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..index import Index
from ..scorer import Scorer


@dataclass
class CoocScores:
    prompts: list[str]
    responses: list[str]
    confidence: list[float]  # 1 - risk
    risk: list[float]
    flags: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"data": {"prompts": self.prompts, "responses": self.responses, "cooc_confidence": self.confidence,
                         "cooc_risk": self.risk, "cooc_flags": self.flags},
                "metadata": {"scorer": "cooc", "direction": "higher confidence = more supported by the corpus"}}


class CoocConfidenceScorer:
    def __init__(self, index_path: str | Path, policy: str = "graded"):
        self.scorer = Scorer(Index.open(index_path), policy)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> CoocScores:
        reports = self.scorer.score_many(list(prompts), list(responses))
        return CoocScores(list(prompts), list(responses), [r.confidence for r in reports],
                          [r.risk for r in reports], [r.flags for r in reports])
