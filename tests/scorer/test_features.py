"""Hand-computed features on the golden index (N = 7 documents, window 10; see tests/conftest.py)."""

import math

import pytest

from cooc.scorer import FEATURES, Index, Scorer
from cooc.scorer.features import conditional, npmi, pmi


@pytest.fixture(scope="module")
def scorer(golden_index):
    return Scorer(Index.open(golden_index))


def test_association_measures_by_hand():
    # Paris 3 docs, France 4 docs, together 2 of 7
    assert pmi(2, 4, 3, 7) == pytest.approx(math.log(14 / 12))
    assert npmi(2, 4, 3, 7) == pytest.approx(math.log(14 / 12) / -math.log(2 / 7))
    assert conditional(2, 4) == 0.5
    assert pmi(0, 4, 3, 7) is None and npmi(0, 4, 3, 7) == -1.0
    assert npmi(3, 3, 3, 3) == 1.0


def test_pair_features_in_a_report(scorer):
    r = scorer.score("What is the capital of France?", "Paris")
    (p,) = r.pairs
    assert (p.a, p.b, p.docs, p.source) == ("France", "Paris", 2, "exact")
    assert p.pmi == pytest.approx(0.154151, abs=1e-6)
    assert p.npmi == pytest.approx(0.123049, abs=1e-6)
    assert p.p_b_given_a == 0.5
    f = r.features
    assert list(f) == list(FEATURES)
    assert f["q_min_log_docs"] == pytest.approx(math.log(5))  # France: 4 documents
    assert f["support_log_docs"] == pytest.approx(math.log(3))
    assert f["support_npmi"] == pytest.approx(0.123049, abs=1e-6)
    assert (f["zero_link_frac"], f["has_qa_pairs"], f["no_entities"]) == (0.0, 1.0, 0.0)
    assert r.long_tail  # mean question-entity documents 4 < 1,000


def test_singleton_pair_and_unseen_answer(scorer):
    r = scorer.score("Who founded Microsoft?", "Bill Gates")
    (p,) = r.pairs
    assert p.flags == ["singleton_pair"] and p.pmi == pytest.approx(math.log(3.5))
    assert p.npmi == pytest.approx(math.log(3.5) / math.log(7))
    r = scorer.score("Who founded Microsoft?", "Paul Allen")
    (p,) = r.pairs
    assert (p.source, p.docs, p.npmi, p.flags) == ("absent", 0, None, ["zero_pair"])  # NPMI undefined: c(b) = 0
    assert r.features["n_unseen"] == 1.0 and r.features["zero_link_frac"] == 1.0


def test_score_many_equals_score_one_by_one(scorer):
    qs = ["Who founded Microsoft?", "what is the capital of france", "Nothing here?", "Is Bill Gates in Seattle?"]
    ans = ["Bill Gates", "Seattle", None, "Paul Allen and Paris"]
    many = scorer.score_many(qs, ans)
    assert [r.to_dict() for r in many] == [scorer.score(q, a).to_dict() for q, a in zip(qs, ans, strict=True)]
