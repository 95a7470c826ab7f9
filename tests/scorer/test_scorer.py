import json
import math

import pytest

from cooc.indexer.errors import IndexFormatError
from cooc.scorer import Index, Scorer
from cooc.scorer.index import lookup
from cooc.scorer.policy import ABSENCE_SPREAD, NEUTRAL_RISK, unsupport


@pytest.fixture(scope="module")
def index(golden_index):
    return Index.open(golden_index)


def tiny_index(tmp_path, texts, gazetteer=None, vocab=None) -> Index:
    """An index of a few hand-written documents, from a gazetteer text or a Vocabulary."""
    from tests.conftest import build

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    gaz = vocab_file = None
    if gazetteer is not None:
        gaz = tmp_path / "gaz.tsv"
        gaz.write_text(gazetteer)
    if vocab is not None:
        vocab_file = tmp_path / "vocab.jsonl"
        vocab.save(vocab_file)
    build([docs], tmp_path / "idx", gaz, vocab_file=vocab_file)
    return Index.open(tmp_path / "idx")


def names(report, role):
    return [e.name for e in report.entities if e.role == role]


def test_lookup_counts_and_aliases(index):
    assert index.entity("microsoft").docs == 2
    assert index.entity("MSFT").name == "Microsoft"  # alias -> canonical
    assert index.entity("Microsoft Corporation's").name == "Microsoft"
    assert index.entity("Atlantis") is None
    paris, france, seattle = (index.entity(n).id for n in ("Paris", "France", "Seattle"))
    assert index.pair(paris, france).docs == 2
    assert index.pair(france, paris).docs == 2
    assert index.pair(seattle, paris).docs == 0  # 25 tokens apart, window 10
    out = lookup(index, "paris", "FRANCE")
    assert out["pair"]["docs"] == 2 and out["window"] == 10


def test_question_casing_and_punctuation_do_not_matter(index):
    s = Scorer(index)
    a = s.score("who founded microsoft")
    b = s.score("Who founded Microsoft?")
    assert names(a, "question") == names(b, "question") == ["Microsoft"]
    assert a.risk == b.risk


def test_alias_in_question_maps_to_canonical_entity(index):
    r = Scorer(index).score("Who founded MSFT?", "Bill Gates")
    assert names(r, "question") == ["Microsoft"]
    pair = r.pairs[0]
    assert (pair.a, pair.b, pair.docs, pair.kind) == ("Microsoft", "Bill Gates", 1, "question-answer")
    assert pair.flags == ["singleton_pair"]
    # 7 documents; Microsoft in 2, Bill Gates in 1, together in 1: NPMI = log(7 / 2) / log(7)
    assert pair.npmi == pytest.approx(math.log(3.5) / math.log(7))
    assert r.risk == pytest.approx(NEUTRAL_RISK * (1 - math.log(3.5) / math.log(7)), abs=1e-6)  # below neutral


def test_grounded_vs_never_paired_answer(index):
    s = Scorer(index)
    grounded = s.score("What is the capital of France?", "Paris")
    never = s.score("What is the capital of France?", "Bill Gates")
    assert grounded.pairs[0].docs == 2 and grounded.risk == pytest.approx(0.5 * (1 - grounded.pairs[0].npmi), abs=1e-6)
    # France in 4 of 7 documents, Bill Gates in 1: chance alone would pair them 4/7 times
    assert never.pairs[0].docs == 0 and "zero_pair" in never.flags
    assert never.risk == pytest.approx(1 - ABSENCE_SPREAD * math.exp(-4 / 7), abs=1e-6)
    assert never.risk > 1 - ABSENCE_SPREAD > NEUTRAL_RISK + NEUTRAL_RISK * unsupport(1)  # above every other branch
    assert never.confidence == pytest.approx(1 - never.risk) and grounded.confidence == pytest.approx(1 - grounded.risk)


def test_unknown_name_in_answer_is_an_unseen_entity(index):
    r = Scorer(index).score("Who founded Microsoft?", "Paul Allen founded it.")
    unseen = [e for e in r.entities if e.id is None]
    assert [e.name for e in unseen] == ["Paul Allen"] and unseen[0].flags == ["unseen_entity"]
    assert r.risk == 1.0


def test_no_entities_gives_neutral_risk(index):
    r = Scorer(index).score("what is the meaning of life?", "forty two")
    assert r.risk == NEUTRAL_RISK and "no_entities" in r.flags


def test_answer_naming_nothing_new_is_neutral(index):
    s = Scorer(index)
    for answer in ("yes", "Microsoft did.", "Microsoft's"):  # nothing the corpus could check
        r = s.score("Did Bill Gates found Microsoft?", answer)
        assert r.risk == NEUTRAL_RISK and not [e for e in r.entities if e.role == "answer"], answer


def test_name_inside_a_longer_vocabulary_name_is_known(index):
    # the golden vocabulary has "Microsoft Corporation" only as an alias; "Bill Gates" is a name: a
    # two-word run inside a longer name is looked up in it ("Republican Erik Paulsen" -> "Erik Paulsen")
    assert index.containing("Bill Gates") is None  # a whole name, not a part of one
    assert index.containing("Gates") is None  # one word is too ambiguous


def test_answer_name_found_inside_a_longer_name(tmp_path):
    index = tiny_index(tmp_path, ["Minnesota's district is represented by Republican Erik Paulsen.",
                                  "Minnesota has lakes.", "Nothing here.", "Nor here."],
                       "Republican Erik Paulsen\t\tNAME\nMinnesota\t\tGPE\n")
    r = Scorer(index).score("Who represents Minnesota?", "Erik Paulsen")
    assert [(e.name, e.docs) for e in r.entities if e.role == "answer"] == [("Republican Erik Paulsen", 1)]
    assert r.pairs[0].docs == 1 and r.risk < NEUTRAL_RISK


def test_name_made_of_known_pieces_is_unseen(index):
    # "Paris" and "Seattle" are both known, but "Paris Seattle" is one unknown name, not two mentions
    r = Scorer(index).score("Who founded Microsoft?", "Paris Seattle founded it.")
    assert [(e.name, e.id) for e in r.entities if e.role == "answer"] == [("Paris Seattle", None)]
    assert r.risk == 1.0


def test_question_only_uses_rarest_entity(index):
    r = Scorer(index).score("Is Bill Gates from Seattle?")
    assert r.risk == pytest.approx(unsupport(1))  # Bill Gates: 1 document
    assert "rare_entity" in r.flags


def test_quco_policy_rules(index):
    q = Scorer(index, policy="quco")
    assert q.score("What is the capital of France?", "Bill Gates").risk == 1.0  # zero pair
    assert q.score("What is the capital of France?", "Paris").risk == 1.0  # France has < 20 docs
    with pytest.raises(ValueError, match="unknown policy"):
        Scorer(index, policy="nope")


def test_report_is_json_serializable(index):
    r = Scorer(index).score("Who founded Microsoft?", "Bill Gates")
    d = json.loads(r.to_json())
    assert d["risk"] == r.risk and d["entities"][0]["docs"] == 2 and d["window"] == 10


def test_open_rejects_non_index_and_newer_format(tmp_path, golden_index):
    with pytest.raises(IndexFormatError, match="no such index directory"):
        Index.open(tmp_path / "nope")
    with pytest.raises(IndexFormatError, match="not a cooc index"):
        Index.open(tmp_path)
    import shutil

    newer = tmp_path / "newer"
    shutil.copytree(golden_index, newer)
    m = json.loads((newer / "manifest.json").read_text())
    m["format_version"] = 99
    (newer / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="newer than this cooc supports"):
        Index.open(newer)


def test_sql_on_the_exact_store(index):
    assert index.sql("SELECT count(*) FROM pairs") == [(4,)]
    assert index.sql("SELECT docs FROM entities WHERE key = ?", ["paris"]) == [(3,)]


def test_pieces_of_a_known_title_are_not_unseen_names(tmp_path):
    index = tiny_index(tmp_path, ['Fall Out Boy released "Infinity on High" in 2007.', "Fall Out Boy toured.",
                                  "Nothing here.", "Nor here."],
                       "Infinity on High\t\tWORK_OF_ART\nFall Out Boy\t\tORG\n")
    r = Scorer(index).score("Which Fall Out Boy album came out in 2007?", "Infinity on High")
    # the run rule alone sees "Infinity" and "High"; both are pieces of the title the text names
    assert [(e.name, e.docs) for e in r.entities if e.role == "answer"] == [("Infinity on High", 1)]
    assert r.pairs[0].docs == 1 and r.risk < NEUTRAL_RISK


def test_a_common_word_the_rule_left_out_is_not_an_unseen_name(tmp_path):
    from cooc.indexer.read import ReadOptions
    from cooc.indexer.vocab import VocabConfig, build_vocabulary

    texts = ["Fall Out Boy flew by helicopter to Chicago.", "A helicopter landed near Chicago.",
             "Fall Out Boy rode a Helicopter from Chicago."]
    (tmp_path / "src.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    vocab = build_vocabulary([tmp_path / "src.jsonl"], ReadOptions(),
                             VocabConfig(ner=False, rules=True, rules_min_count=1))
    assert "helicopter" in vocab.common_words and "chicago" not in vocab.common_words
    s = Scorer(tiny_index(tmp_path, texts, vocab=vocab))
    assert s.score("How did Fall Out Boy travel?", "Helicopter").risk == NEUTRAL_RISK  # no claim, not unseen
    assert s.score("How did Fall Out Boy travel?", "Zeppelin").risk == 1.0  # a name the corpus never uses
