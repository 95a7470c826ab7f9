"""Joint support from the evidence store: the rarest question entity, phrases, the answer's own words."""

from __future__ import annotations

import pytest

from cooc.indexer.merge import MergeOptions
from cooc.scorer import Index, Scorer
from cooc.scorer.joint import JointOptions
from cooc.scorer.policy import NEUTRAL_RISK
from tests.conftest import build, write_jsonl

DOCS = [
    ("k1", "The suburb of Kew lies in Johannesburg, Gauteng."),
    ("k2", "The city of Pretoria lies in Gauteng."),
    ("k3", "The city of Johannesburg is the largest in Gauteng."),
    ("k4", "Both Pretoria and Johannesburg are cities of Gauteng."),
    ("k5", "The band Seether plays rock in Pretoria."),
    ("k6", "A jazz club opened in Johannesburg."),
    ("k7", "Nothing else happened."),
]
KEW = "What city is located in Gauteng with a suburb called Kew?"
SEETHER = "What genre does the band Seether play?"


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Index:
    d = tmp_path_factory.mktemp("joint")
    build([write_jsonl(d / "docs.jsonl", DOCS)], d / "idx", window=1000)
    return Index.open(d / "idx")


def test_the_rarest_question_entity_separates_answers_that_pair_tables_cannot(index):
    off = Scorer(index, joint=JointOptions(joint="off", phrases=False, answer_words=False))
    on = Scorer(index)
    # both cities pair with Gauteng, so the pair rules support both ...
    assert off.score(KEW, "Pretoria").risk < NEUTRAL_RISK and off.score(KEW, "Johannesburg").risk < NEUTRAL_RISK
    # ... but only Johannesburg shares a document with Kew
    right, wrong = on.score(KEW, "Johannesburg"), on.score(KEW, "Pretoria")
    assert right.risk < NEUTRAL_RISK <= 0.9 <= wrong.risk
    assert "never shares a document with 'Kew'" in wrong.reason
    s = wrong.support[0]
    assert (s.answer, s.source, s.rarest, s.with_rarest, s.joint) == ("Pretoria", "name", "Kew", 0, 0)
    assert right.support[0].with_rarest == 1


def test_all_entities_at_once_and_best_pair_are_the_ablation_modes(index):
    every = Scorer(index, joint=JointOptions(joint="all")).score(KEW, "Pretoria")
    assert every.support[0].with_all == 0 and every.risk >= 0.9
    best = Scorer(index, joint=JointOptions(joint="best_pair")).score(KEW, "Pretoria")
    assert best.support[0].joint == 2 and best.risk < NEUTRAL_RISK  # Pretoria-Gauteng: k2, k4
    with pytest.raises(ValueError, match="joint must be one of"):
        JointOptions(joint="some")


def test_a_short_answer_without_a_name_is_counted_as_a_phrase(index):
    scorer = Scorer(index)
    rock, jazz, polka = (scorer.score(SEETHER, a) for a in ("rock", "jazz", "polka music"))
    assert [(x.source, x.docs, x.with_rarest) for x in rock.support] == [("phrase", 1, 1)]
    assert rock.risk < NEUTRAL_RISK
    assert [(x.source, x.docs, x.with_rarest) for x in jazz.support] == [("phrase", 1, 0)] and jazz.risk >= 0.9
    assert polka.risk == 1.0 and "never written in the corpus (phrase)" in polka.reason
    assert not [e for e in rock.entities if e.role == "answer"]  # a phrase is never reported as a name
    yes = scorer.score("Is Seether a band?", "Yes")
    assert yes.support == [] and yes.risk == NEUTRAL_RISK  # yes/no: nothing to count


def test_the_answers_own_words_never_seen_with_the_rarest_entity_raise_the_risk(index):
    scorer = Scorer(index, joint=JointOptions(common_share=1.0))  # a 7-document corpus: no word is common
    r = scorer.score(SEETHER, "Seether plays loud jazz.")  # a name: no phrase; Seether is the question's
    assert r.answer_words.words == ["plays", "loud", "jazz"]  # not the question's words, not its names
    assert r.answer_words.unsupported == ["loud", "jazz"]  # "plays" is in k5 with Seether
    assert r.risk == pytest.approx(NEUTRAL_RISK + NEUTRAL_RISK * 2 / 3, abs=1e-6)
    assert "2 of the answer's 3 own words ('loud', 'jazz')" in r.reason
    assert r.features["words_unsupported"] == r.answer_words.share


def test_without_an_evidence_store_only_the_pair_rules_apply(tmp_path):
    build([write_jsonl(tmp_path / "docs.jsonl", DOCS)], tmp_path / "bare", window=1000,
          merge=MergeOptions(evidence=False))
    r = Scorer(Index.open(tmp_path / "bare")).score(KEW, "Pretoria")
    assert r.risk < NEUTRAL_RISK and r.support == [] and r.answer_words is None


def test_score_attaches_evidence_documents_to_each_pair(index):
    r = Scorer(index, evidence_docs=2).score(KEW, "Johannesburg")
    pair = next(p for p in r.pairs if {p.a, p.b} == {"Kew", "Johannesburg"})
    assert [d.id for d in pair.documents] == ["k1"]
    assert "[Kew]" in pair.documents[0].snippet and "[Johannesburg]" in pair.documents[0].snippet
