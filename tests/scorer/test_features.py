"""Hand-computed features on the scorer corpus (N = 14 documents, window 10; see tests/scorer/corpus.py)."""

import math

import pytest

from cooc.scorer import FEATURES, Index, Scorer
from cooc.scorer.features import conditional, npmi, pmi
from cooc.scorer.policy import NEUTRAL_RISK

N = 14


@pytest.fixture(scope="module")
def scorer(scorer_index_dir):
    return Scorer(Index.open(scorer_index_dir))


def test_association_measures_by_hand():
    # Paris 2 docs, Lyon 3 docs, together 1 of 14
    assert pmi(1, 2, 3, N) == pytest.approx(math.log(14 / 6))
    assert npmi(1, 2, 3, N) == pytest.approx(math.log(14 / 6) / -math.log(1 / 14))
    assert conditional(1, 2) == 0.5
    assert pmi(0, 2, 3, N) is None and npmi(0, 2, 3, N) == -1.0
    assert npmi(3, 3, 3, 3) == 1.0
    assert npmi(1, 0, 3, N) is None and conditional(1, 0) is None


def test_pair_features_in_a_report(scorer):
    r = scorer.score("What city do tourists visit besides Paris?", "Lyon")
    (p,) = r.pairs
    assert (p.a, p.b, p.docs, p.source, p.kind) == ("Paris", "Lyon", 1, "exact", "question-answer")
    assert p.pmi == pytest.approx(math.log(14 / 6))
    assert p.npmi == pytest.approx(math.log(14 / 6) / math.log(14))
    assert p.p_b_given_a == 0.5 and p.flags == ["singleton_pair"]
    f = r.features
    assert list(f) == list(FEATURES)
    assert (f["n_question_entities"], f["n_answer_entities"], f["n_unseen"]) == (1.0, 1.0, 0.0)
    assert f["q_min_log_docs"] == f["q_mean_docs_log"] == pytest.approx(math.log(3))  # Paris: 2 documents
    assert f["a_min_log_docs"] == pytest.approx(math.log(4))  # Lyon: 3 documents
    assert f["support_log_docs"] == pytest.approx(math.log(2))
    assert f["support_npmi"] == pytest.approx(p.npmi)
    assert (f["zero_link_frac"], f["has_qa_pairs"], f["no_entities"]) == (0.0, 1.0, 0.0)
    assert r.risk == pytest.approx(NEUTRAL_RISK * (1 - p.npmi), abs=1e-6)
    assert r.long_tail  # mean question-entity documents 2 < 1,000


def test_singleton_pair_and_unseen_answer(scorer):
    r = scorer.score("Who founded Microsoft?", "Bill Gates")
    (p,) = r.pairs
    assert p.flags == ["singleton_pair"] and p.pmi == pytest.approx(math.log(7))
    assert p.npmi == pytest.approx(math.log(7) / math.log(14))
    r = scorer.score("Who founded Microsoft?", "Paul Allen")
    (p,) = r.pairs
    assert (p.source, p.docs, p.npmi, p.flags) == ("absent", 0, None, ["zero_pair"])  # NPMI undefined: c(b) = 0
    assert r.features["n_unseen"] == 1.0 and r.features["zero_link_frac"] == 1.0 and r.features["a_min_log_docs"] == 0.0


def test_answer_answer_pairs_and_no_entities(scorer):
    r = scorer.score("Is Bill Gates in Seattle?", "Paul Allen and Paris")
    kinds = [(p.a, p.b, p.kind) for p in r.pairs]
    assert ("Paris", "Paul Allen", "answer-answer") in kinds and len(kinds) == 5  # 2 x 2 question-answer + 1
    assert r.features["n_answer_entities"] == 2.0 and r.features["n_unseen"] == 1.0
    empty = scorer.score("what is the meaning of life?", "forty two").features
    assert empty["no_entities"] == 1.0 and all(v == 0.0 for k, v in empty.items() if k != "no_entities")


def test_score_many_equals_score_one_by_one(scorer):
    qs = ["Who founded Microsoft?", "what is the capital of france", "Nothing here?", "Is Bill Gates in Seattle?",
          'Which band released "The Dark Side of the Moon"?']
    ans = ["Bill Gates", "Seattle", None, "Paul Allen and Paris", "pink floyd"]
    many = scorer.score_many(qs, ans)
    assert [r.to_dict() for r in many] == [scorer.score(q, a).to_dict() for q, a in zip(qs, ans, strict=True)]
    with pytest.raises(ValueError, match="same length"):
        scorer.score_many(qs, ans[:2])
