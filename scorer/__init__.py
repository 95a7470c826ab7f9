"""cooc.scorer: open an index, look up counts, and score hallucination risk."""

from .index import EntityCount, Index, PairCount
from .policy import POLICIES
from .scorer import FEATURES, EntityEvidence, PairEvidence, RiskReport, Scorer

__all__ = ["FEATURES", "EntityCount", "EntityEvidence", "Index", "POLICIES", "PairCount", "PairEvidence", "RiskReport", "Scorer"]
