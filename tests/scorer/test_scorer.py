"""The scorer on real indexes of tests/scorer/corpus.py (14 documents, window 10; counts worked out there)."""

import json
import math
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cooc.indexer.count import WINDOW_DOC
from cooc.indexer.errors import IndexFormatError
from cooc.scorer import Index, Scorer
from cooc.scorer.index import index_stats, lookup
from cooc.scorer.policy import ABSENCE_SPREAD, NEUTRAL_RISK, unsupport
from tests.scorer.corpus import N_DOCS, build

N = N_DOCS


@pytest.fixture(scope="module")
def index(scorer_index_dir):
    return Index.open(scorer_index_dir)


@pytest.fixture(scope="module")
def scorer(index):
    return Scorer(index)


def names(report, role):
    return [e.name for e in report.entities if e.role == role]


def test_entity_lookup_by_hash(index):
    ms = index.entity("Microsoft")
    assert (ms.name, ms.key, ms.label, ms.docs, ms.mentions, ms.common) == ("Microsoft", "microsoft", "NAME", 2, 2, False)
    assert index.entity("microsoft") == index.entity("MICROSOFT's") == ms  # case-folded, possessive dropped
    assert index.entity_by_id(ms.id) == ms
    assert index.entity("Lyon").docs == index.docs("lyon") == 3 and index.entity("Paris").docs == 2
    assert index.id_of("Paris") == index.entity("Paris").id and index.id_of("Atlantis") == -1 and index.docs("Atlantis") == 0
    assert index.entity("Atlantis") is None
    assert index.entity("") is None
    # exact names only: a longer name never answers for one of its words, nor a word for the name
    dixon = index.entity("Thomas Dixon Jr.")
    assert dixon is not None and dixon.key == "thomas dixon jr" and dixon.docs == 1
    assert index.entity("Thomas") is None and index.entity("Dixon") is None
    assert index.entity("Thomas Dixon").docs == 1  # an inner name: runs of 2+ words inside a name count too
    assert index.entity("1975").label == "NUMBER" and index.entity("Dark Side of the Moon").label == "TITLE"
    assert index.documents == N and index.window == 10


def test_pair_lookup(index):
    paris, france, lyon, seattle = (index.entity(n).id for n in ("Paris", "France", "Lyon", "Seattle"))
    assert index.pair(paris, france).docs == index.pair(france, paris).docs == 2
    assert index.pair(paris, lyon).docs == 1
    assert index.pair(lyon, seattle).docs == 0  # 16 tokens apart in q12, window 10
    p = index.pair(paris, france)
    assert (p.a, p.b, p.source) == (min(paris, france), max(paris, france), "exact")
    assert [x.docs for x in index.pairs([paris, paris, lyon], [france, lyon, seattle])] == [2, 1, 0]
    out = lookup(index, "paris", "FRANCE")
    assert out["pair"]["docs"] == 2 and out["window"] == 10 and out["entities"][1]["name"] == "France"
    # a string that is not a name is a phrase, counted at document level by the evidence store, never a name
    atlantis = lookup(index, "Atlantis", "Paris")
    assert atlantis["entities"][0] == {"phrase": "Atlantis", "docs": 0, "source": "phrase", "level": "document"}
    assert atlantis["pair"] == {"docs": 0, "source": "phrase"} and atlantis["window"] == "doc"
    trail = lookup(index, "the trail", "Lyon")  # q7
    assert trail["entities"][0]["docs"] == 1 and trail["pair"] == {"docs": 1, "source": "phrase"}


def test_whole_document_window_pairs_names_farther_apart(tmp_path, scorer_docs):
    idx = Index.open(build(scorer_docs, tmp_path / "doc", window=WINDOW_DOC))
    assert idx.window == "doc"
    lyon, seattle = idx.entity("Lyon").id, idx.entity("Seattle").id
    assert idx.pair(lyon, seattle).docs == 1
    r = Scorer(idx).score("Who did officials in Lyon talk about?", "Seattle")
    assert r.pairs[0].docs == 1 and r.risk < NEUTRAL_RISK


def test_lowercase_question_finds_microsoft(scorer):
    a = scorer.score("who founded microsoft")
    b = scorer.score("Who founded Microsoft?")
    assert names(a, "question") == names(b, "question") == ["Microsoft"]
    assert a.entities[0].docs == 2 and a.risk == b.risk == pytest.approx(unsupport(2))


def test_lowercase_answer_is_checked_like_the_cased_one(scorer):
    lower = scorer.score("Who founded Microsoft?", "bill gates")
    cased = scorer.score("Who founded Microsoft?", "Bill Gates")
    assert names(lower, "answer") == names(cased, "answer") == ["Bill Gates"]
    assert [(p.a, p.b, p.docs) for p in lower.pairs] == [(p.a, p.b, p.docs) for p in cased.pairs] == \
        [("Microsoft", "Bill Gates", 1)]
    # 14 documents; Microsoft in 2, Bill Gates in 1, together in 1: NPMI = log(14 / 2) / log(14)
    assert lower.pairs[0].npmi == pytest.approx(math.log(7) / math.log(14))
    assert lower.risk == cased.risk == pytest.approx(NEUTRAL_RISK * (1 - math.log(7) / math.log(14)), abs=1e-6)
    # lowercase words of a cased text are ordinary words, not names looked up one by one
    assert names(scorer.score("Who founded Microsoft?", "Bill Gates of paris"), "answer") == ["Bill Gates"]


@pytest.mark.parametrize("answer", ["Bill Gates of the paris office", "Bill Gates, in paris's office"])
def test_lowercase_word_of_a_cased_text_is_not_a_name_after_the_or_before_s(scorer, answer):
    assert names(scorer.score("Who founded Microsoft?", answer), "answer") == ["Bill Gates"]


@pytest.mark.parametrize("question", ['Which band released "The Dark Side of the Moon"?',
                                      '"The Dark Side of the Moon" was released by which band?',
                                      'Who released "The Dark Side of the Moon" in 1973?'])
def test_quoted_title_starting_with_the_is_found_in_a_question(scorer, question):
    r = scorer.score(question, "Pink Floyd")
    q = [(e.name, e.docs, e.label) for e in r.entities if e.role == "question"]
    assert ("Dark Side of the Moon", 1, "TITLE") in q
    assert not [e for e in r.entities if e.id is None]  # neither the title nor a piece of it is unseen
    link = next(p for p in r.pairs if p.a == "Dark Side of the Moon")
    assert (link.b, link.docs) == ("Pink Floyd", 1) and link.npmi == pytest.approx(1.0) and r.risk == 0.0


def test_unquoted_title_in_an_answer_is_one_known_name(scorer):
    r = scorer.score("Which Pink Floyd album came out in 1973?", "The Dark Side of the Moon")
    assert [(e.name, e.docs) for e in r.entities if e.role == "answer"] == [("Dark Side of the Moon", 1)]
    assert r.risk == 0.0


def test_decimal_answer_is_not_the_number_213(scorer, index):
    assert index.entity("213").docs == 1  # the corpus does write the number 213 (q6)
    r = scorer.score("How long is the trail near Lyon?", "6.213 km")
    assert names(r, "answer") == []  # no name: the answer is counted as a phrase, with Lyon (q7)
    assert [(x.source, x.docs, x.with_rarest) for x in r.support] == [("phrase", 1, 1)] and r.risk < NEUTRAL_RISK
    control = scorer.score("How long is the trail near Lyon?", "213")
    assert [(e.name, e.docs) for e in control.entities if e.role == "answer"] == [("213", 1)]
    assert control.pairs[0].docs == 0 and control.risk > NEUTRAL_RISK


@pytest.mark.slow  # a fresh interpreter: no kernel compiled, no spaCy imported
def test_open_builds_nothing(tmp_path, scorer_index_dir):
    """Opening memory-maps what the build wrote: no file is written, no name kernel runs, DuckDB is not needed."""
    idx = tmp_path / "idx"
    shutil.copytree(scorer_index_dir, idx, symlinks=True)
    data = idx / json.loads((idx / "manifest.json").read_text())["data_dir"]
    shutil.rmtree(idx / "parts")  # neither the parts ...
    (data / "index.duckdb").unlink()  # ... nor the DuckDB store is needed to look names up
    (idx / "index.duckdb").unlink()

    def snapshot():
        return sorted((str(p.relative_to(idx)), p.lstat().st_size, p.lstat().st_mtime_ns) for p in idx.rglob("*"))

    before = snapshot()
    code = f"""
import json, sys
from cooc.scorer.index import Index
from cooc.indexer import count, names
ix = Index.open({str(idx)!r})
tables_at_open = len(names._RULE_TABLES)  # the rule's word tables are built on the first lookup, not by open
e = ix.entity("microsoft")
kernels = {{f"{{m.__name__}}.{{k}}": len(getattr(m, k).signatures)
           for m, k in ((names, "_find_batch"), (names, "_ngrams"), (names, "_insert"), (count, "_count_batch"))}}
print(json.dumps({{"docs": e.docs, "name": e.name, "n_names": ix.n_names, "kernels": kernels,
                   "tables_at_open": tables_at_open, "spacy": "spacy" in sys.modules}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["docs"], out["name"]) == (2, "Microsoft") and out["n_names"] == Index.open(scorer_index_dir).n_names
    assert set(out["kernels"].values()) == {0}, out["kernels"]  # no name finding or counting kernel ran
    assert out["tables_at_open"] == 0 and not out["spacy"]
    assert snapshot() == before


def test_unknown_name_in_answer_is_an_unseen_entity(scorer):
    r = scorer.score("Who founded Microsoft?", "Paul Allen founded it.")
    unseen = [e for e in r.entities if e.id is None]
    assert [e.name for e in unseen] == ["Paul Allen"] and unseen[0].flags == ["unseen_entity"]
    assert r.risk == 1.0 and "'Paul Allen'" in r.reason


def test_grounded_vs_never_paired_answer(scorer):
    grounded = scorer.score("What is the capital of France?", "Paris")
    never = scorer.score("What is the capital of France?", "Bill Gates")
    # France 2, Paris 2, together 2 of 14: NPMI = log(14 * 2 / 4) / -log(2 / 14) = 1
    assert grounded.pairs[0].docs == 2 and grounded.pairs[0].npmi == pytest.approx(1.0) and grounded.risk == 0.0
    # France in 2 of 14 documents, Bill Gates in 1: chance alone would pair them 2/14 times
    assert never.pairs[0].docs == 0 and "zero_pair" in never.flags
    assert never.risk == pytest.approx(1 - ABSENCE_SPREAD * math.exp(-2 / 14), abs=1e-6)
    assert never.risk > 1 - ABSENCE_SPREAD > NEUTRAL_RISK + NEUTRAL_RISK * unsupport(1)  # above every other branch
    assert never.confidence == pytest.approx(1 - never.risk) and grounded.confidence == pytest.approx(1 - grounded.risk)


def test_no_entities_gives_neutral_risk(scorer):
    r = scorer.score("what is the meaning of life?", "forty two")
    assert r.risk == NEUTRAL_RISK and "no_entities" in r.flags and r.entities == []


def test_answer_naming_nothing_new_is_neutral(scorer):
    for answer in ("yes", "Microsoft did.", "Microsoft's", "microsoft"):  # nothing the corpus could check
        r = scorer.score("Did Bill Gates found Microsoft?", answer)
        assert r.risk == NEUTRAL_RISK and not [e for e in r.entities if e.role == "answer"], answer


def test_answer_name_inside_a_longer_name_is_known(scorer, index):
    # the corpus writes "Republican Erik Paulsen"; its inner run "Erik Paulsen" is a name of its own
    assert index.entity("Republican Erik Paulsen").docs == index.entity("Erik Paulsen").docs == 1
    assert index.entity("Paulsen") is None  # one word inside a run is not an inner name
    r = scorer.score("Who represents Minnesota?", "Erik Paulsen")
    assert [(e.name, e.docs) for e in r.entities if e.role == "answer"] == [("Erik Paulsen", 1)]
    assert not [e for e in r.entities if e.id is None]


def test_inner_names_count_documents_but_pair_only_where_written_on_their_own(index):
    """q5 writes "Republican Erik Paulsen ... Minnesota": the inner "Erik Paulsen" has a document but no pair
    (pairs 2.35M -> 1.25M on the benchmark corpus); the name around it does pair."""
    outer, inner, mn = (index.entity(n).id for n in ("Republican Erik Paulsen", "Erik Paulsen", "Minnesota"))
    assert index.pair(outer, mn).docs == 1
    assert index.pair(inner, mn).docs == 0 and index.pair(inner, outer).docs == 0
    assert index.sql("SELECT count(*) FROM pairs WHERE ? IN (a, b)", [inner]) == [(0,)]


def test_name_made_of_known_pieces_is_unseen(scorer):
    # "Paris" and "Seattle" are both known, but "Paris Seattle" is one unknown name, not two mentions
    r = scorer.score("Who founded Microsoft?", "Paris Seattle founded it.")
    assert [(e.name, e.id) for e in r.entities if e.role == "answer"] == [("Paris Seattle", None)]
    assert r.risk == 1.0


def test_question_only_uses_rarest_entity(scorer):
    r = scorer.score("Is Bill Gates from Seattle?")
    assert names(r, "question") == ["Bill Gates", "Seattle"]
    assert r.risk == pytest.approx(unsupport(1))  # Bill Gates: 1 document
    assert "rare_entity" in r.flags and r.long_tail


def test_a_common_word_is_not_an_unseen_name(scorer, index):
    heli = index.entity("Helicopter")
    assert heli.common and (heli.docs, heli.lowercase_uses) == (1, 2)  # written in lowercase more than as a name
    assert not index.entity("Chicago").common
    assert index.sql("SELECT count(*) FROM pairs p JOIN names n ON n.id IN (p.a, p.b) WHERE n.key = 'helicopter'") == [(0,)]
    heli = scorer.score("How did fans see Chicago?", "Helicopter")  # not an unseen name: a phrase, with Chicago
    assert not names(heli, "answer") and [(x.source, x.with_rarest) for x in heli.support] == [("phrase", 2)]
    assert heli.risk < NEUTRAL_RISK
    assert scorer.score("How did fans see Chicago?", "Zeppelin").risk == 1.0  # a name the corpus never writes


def test_quco_policy_rules(index):
    q = Scorer(index, policy="quco")
    assert q.score("What is the capital of France?", "Bill Gates").risk == 1.0  # zero pair
    assert q.score("What is the capital of France?", "Paris").risk == 1.0  # France has < 20 docs
    with pytest.raises(ValueError, match="unknown policy"):
        Scorer(index, policy="nope")


def test_report_is_json_serializable(scorer):
    r = scorer.score("Who founded Microsoft?", "Bill Gates")
    d = json.loads(r.to_json())
    assert d["risk"] == r.risk and d["entities"][0]["docs"] == 2 and d["window"] == 10
    assert d["corpus_documents"] == N and d["pairs"][0]["source"] == "exact"


def test_open_rejects_non_index_and_other_formats(tmp_path, scorer_index_dir):
    with pytest.raises(IndexFormatError, match="no such index directory"):
        Index.open(tmp_path / "nope")
    with pytest.raises(IndexFormatError, match="not a cooc index"):
        Index.open(tmp_path)
    for version, message in ((99, "newer than this cooc supports"), (1, "rebuild it with `cooc build")):
        other = tmp_path / f"v{version}"
        shutil.copytree(scorer_index_dir, other, symlinks=True)
        m = json.loads((other / "manifest.json").read_text())
        m["format_version"] = version
        (other / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(IndexFormatError, match=message) as err:
            Index.open(other)
        assert "\n" not in str(err.value)


def test_sql_on_the_exact_store_agrees_with_the_arrays(index, scorer_index_dir):
    stats = index_stats(scorer_index_dir)
    assert index.sql("SELECT count(*) FROM pairs") == [(stats["pairs"],)]
    assert index.sql("SELECT count(*) FROM names") == [(index.n_names,)] and stats["names"] == index.n_names
    assert index.sql("SELECT docs, mentions, label FROM names WHERE key = ?", ["lyon"]) == [(3, 3, "NAME")]
    paris, france = index.entity("Paris").id, index.entity("France").id
    assert index.sql("SELECT docs FROM pairs WHERE a = ? AND b = ?", [min(paris, france), max(paris, france)]) == [(2,)]
    assert stats["documents"] == N and stats["common_words"] == 1 and stats["window"] == 10


def test_alias_in_question_maps_to_canonical_entity(alias_index_dir):
    index = Index.open(alias_index_dir)
    ms = index.entity("Microsoft")
    assert ms.docs == 4  # q0, q1 and both alias documents
    assert index.entity("MSFT") == index.entity("msft") == index.entity("Microsoft Corporation") == ms
    assert index.entity("William H. Gates") == index.entity("Bill Gates")
    assert index.entity("Bill Gates").docs == 2
    r = Scorer(index).score("Who founded MSFT?", "Bill Gates")
    assert names(r, "question") == ["Microsoft"]
    pair = r.pairs[0]
    assert (pair.a, pair.b, pair.docs, pair.kind) == ("Microsoft", "Bill Gates", 2, "question-answer")
    # 16 documents; Microsoft in 4, Bill Gates in 2, together in 2: NPMI = log(16 * 2 / 8) / -log(2 / 16)
    assert pair.npmi == pytest.approx(math.log(4) / math.log(8))


def test_a_report_with_a_lone_surrogate_always_serializes(scorer):
    """#17.3: to_json() once kept the surrogate, so .encode() raised."""
    report = scorer.score("capital of France\ud800?", "Paris\udc00")
    data = report.to_json().encode("utf-8")
    assert json.loads(data)["question"] == "capital of France\ud800?"


@pytest.mark.parametrize("args", [(5, "Paris"), (b"capital of France?", None), ("France?", 7)])
def test_score_wants_text(scorer, args):
    """#17.12: an int or bytes once gave an AttributeError."""
    with pytest.raises(TypeError, match="score\\(question: str"):
        scorer.score(*args)


@pytest.mark.parametrize("questions, answers, what", [
    ("France?", None, "questions must be a list of str"),  # once scored 7 one-character texts
    (b"France?", None, "questions must be a list of str"),
    (["France?"], "Paris", "answers must be a list of str"),
    (["France?", 3], None, "question 1 must be str"),
    (["France?"], [b"Paris"], "answer 0 must be str or None"),
])
def test_score_many_wants_lists_of_text(scorer, questions, answers, what):
    with pytest.raises(TypeError, match=what):
        scorer.score_many(questions, answers)


def test_a_run_of_names_is_capped_and_flagged(scorer):
    """#17.1: 200 names in one answer keep 32, and at most 512 pairs are looked up."""
    from cooc.scorer.scorer import MAX_NAMES_PER_TEXT, MAX_PAIRS_PER_ROW

    answer = ", ".join(f"Zq{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(200))
    report = scorer.score("Did Bill Gates see Paris?", answer)
    assert sum(e.role == "answer" for e in report.entities) == MAX_NAMES_PER_TEXT
    assert len(report.pairs) == MAX_PAIRS_PER_ROW
    assert {"too_many_names", "too_many_pairs"} <= set(report.flags)
    small = scorer.score("Did Bill Gates see Paris?", "Microsoft")
    assert not {"too_many_names", "too_many_pairs"} & set(small.flags)


def test_spans_are_where_the_texts_write_each_name(scorer):
    r = scorer.score("Which city did the company founded by Bill Gates in 1975 move to?", "Microsoft moved to Chicago.")
    assert {e.name: [(s.text, s.start, s.end) for s in e.spans] for e in r.entities} == {
        "Bill Gates": [("question", 38, 48)], "1975": [("question", 52, 56)],
        "Microsoft": [("answer", 0, 9)], "Chicago": [("answer", 19, 26)]}
    r = scorer.score('Which band released "The Dark Side of the Moon"?', "Pink Floyd did, like the pink floyd fans said.")
    title, band = r.entities
    assert [(s.start, s.end) for s in title.spans] == [(25, 46)]  # "Dark Side of the Moon": the key drops "The"
    # every mention, the lowercase one too (two words: a name in any case)
    assert [(s.text, s.start, s.end) for s in band.spans] == [("answer", 0, 10), ("answer", 25, 35)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aé ﬁ…ωx.\u00a0\u2163Ａ", max_size=24), st.sampled_from(["", "Ｐ", "ﬁ "]))
def test_spans_map_back_to_the_text_as_given(scorer, prefix, glue):
    """Characters NFKC rewrites (ﬁ -> fi, Ⅳ -> IV, fullwidth letters) and multi-byte ones before a name do not
    shift its span: the span is in characters of the text as given, not bytes of the NFKC text."""
    question = f"{prefix} {glue}tourists visit Paris and Lyon in France."
    answer = f"{prefix} so Microsoft moved to Seattle."
    r = scorer.score(question, answer)
    texts = {"question": question, "answer": answer}
    written = {(e.name, texts[s.text][s.start : s.end]) for e in r.entities for s in e.spans}
    assert {("Paris", "Paris"), ("Lyon", "Lyon"), ("France", "France"), ("Microsoft", "Microsoft"),
            ("Seattle", "Seattle")} <= written


def test_an_index_still_open_at_interpreter_exit_exits_quietly(scorer_index_dir):
    """An index that outlives module teardown (a script that also defines a numba function keeps it alive that
    long) is collected when `os` is already gone: its reader lease must still close without an
    "Exception ignored" traceback on stderr."""
    code = ("import sys, numba; from cooc.scorer.index import Index\nix = Index.open(sys.argv[1]); ix.docs('Microsoft')\n"
            "@numba.njit\ndef one(x):\n    return x\none(1)\n")
    done = subprocess.run([sys.executable, "-c", code, str(scorer_index_dir)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
