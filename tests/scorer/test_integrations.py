"""lm-polygraph and uqlm adapters. lm-polygraph needs torch and transformers, which cooc does not install:
without it these tests check its documented Estimator interface (stats_dependencies, level, __str__,
__call__(stats) -> one float per text, higher = more uncertain) and `load_estimator(config)`."""

import numpy as np

from cooc.scorer.integrations import lm_polygraph, uqlm


def test_lm_polygraph_estimator_interface(scorer_index_dir):
    est = lm_polygraph.load_estimator({"index_path": str(scorer_index_dir)})
    assert est.stats_dependencies == ["input_texts", "greedy_texts"] and est.level == "sequence"
    assert str(est) == "CoocRisk_graded"
    out = est({"input_texts": ["Who founded Microsoft?", "Who founded Microsoft?"],
               "greedy_texts": ["Bill Gates", "Paul Allen"]})
    assert isinstance(out, np.ndarray) and out.shape == (2,) and out[1] > out[0]
    if lm_polygraph.HAVE_LM_POLYGRAPH:
        from lm_polygraph.estimators.estimator import Estimator

        assert isinstance(est, Estimator)


def test_uqlm_style_confidence(scorer_index_dir):
    s = uqlm.CoocConfidenceScorer(scorer_index_dir).score(["Who founded Microsoft?"] * 2, ["Bill Gates", "Paul Allen"])
    assert s.confidence[0] > s.confidence[1] and all(abs(c + r - 1) < 1e-9 for c, r in zip(s.confidence, s.risk, strict=True))
    assert s.to_dict()["data"]["cooc_confidence"] == s.confidence
