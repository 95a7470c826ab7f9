"""The name rule: the numba kernel (`names.find_batch`) equals the Python reference (`spans.mentions`) mention for
mention on real text and on hypothesis text, and the rule's documented behaviours hold on short sentences."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cooc.indexer import names, spans
from cooc.indexer.names import Gazetteer, find_batch, name_hash, name_hashes
from cooc.indexer.normalize import normalize_key
from cooc.indexer.spans import (
    KIND_GAZETTEER,
    KIND_INNER,
    KIND_NAME,
    KIND_NUMBER,
    KIND_TITLE,
    candidate_spans,
    key_hash,
    mentions,
)
from tests.conftest import sample_texts


def kernel(texts, skip=True, inner=True, gazetteer=None, rules=True):
    """find_batch as per-text lists of (first token, tokens, hash, kind), the reference's shape."""
    f = find_batch(texts, skip, inner, gazetteer, rules)
    out = [[] for _ in texts]
    for d, a, n, h, k in zip(f.doc.tolist(), f.first.tolist(), f.length.tolist(), f.hash.tolist(), f.kind.tolist(),
                             strict=True):
        out[d].append((a, n, h, k))
    return out, f


def found(text, skip=True, inner=True, kinds=None):
    """(name text, kind) of every mention the reference finds, in order."""
    prepared = spans.prepare(text)
    _, sp = spans.find_spans(prepared, skip, inner)
    return [(spans.span_text(prepared, s), s.kind) for s in sp if kinds is None or s.kind in kinds]


# ---- kernel == reference ----------------------------------------------------------------------------


@pytest.mark.parametrize("name,limit", [("wikipedia_vital_leads.jsonl.gz", 400), ("hotpotqa_knowledge.parquet", 400),
                                        ("sotu", None)])
@pytest.mark.parametrize("skip,inner", [(True, True), (False, False)])
def test_kernel_equals_reference_on_the_bundled_sample(name, limit, skip, inner):
    texts = sample_texts(name, limit)
    got, f = kernel(texts, skip, inner)
    expected = [mentions(t, skip, inner) for t in texts]
    for t, g, e in zip(texts, got, expected, strict=True):
        assert g == e, t[:200]
    assert f.ntokens.tolist() == [len(spans.tokens(spans.prepare(t))) for t in texts]
    kinds = {k for ms in expected for *_, k in ms}
    assert sum(map(len, expected)) > 1000 and kinds >= {KIND_NAME, KIND_NUMBER} | ({KIND_INNER} if inner else set())


# An alphabet that exercises every class of the tokenizer and the rule: letters with and without case (Latin-1,
# Greek, Cyrillic, CJK, emoji), straight and curly quotes, apostrophes, sentence marks, glue, digits, dashes,
# special and zero-width spaces, newlines, combining marks and an NFKC ligature.
CHARS = ("abzAZ09 .,;:!?'\"-&()$éÉßÀÞÿΣσΩωЖжЯя東京中🙂👍\u2019\u2018\u201c\u201d\u00ab\u00bb\u2013\u2014\u2212"
         "\u00a0\u2009\u3000\u200b\u200d\ufeff\n\t\r\u0301\ufb01")
WORDS = ["of", "the", "The", "Jr.", "Paris", "1999", "10,445", "6.213", "and", "de", "van", "&", "Mr.", "U.S.", "St.",
         "O'Brien", "Bros.", '"', "\u201c", "\u201d", "'s", "Weekly's", "1st", "21st", "Yes", "In", "New York", "Ελλάδα",
         "Москва", "São Paulo", "Zürich", "東京", ".", ",", "(", ")", "Corlett.Jennifer", "D.C.", "AT&T", "Saint-Denis",
         "A", "I", "x", "1844", "12", "$300", "\u201cInfinity on High\u201d"]
piece = st.one_of(st.sampled_from(WORDS), st.text(alphabet=CHARS, min_size=1, max_size=8))
gap = st.sampled_from([" ", " ", " ", "", "\n", ", ", ". ", "\u00a0", "  ", "\u200b"])
texts_st = st.lists(st.tuples(piece, gap), max_size=40).map(lambda xs: "".join(a + b for a, b in xs))


@settings(max_examples=400, deadline=None)
@given(st.lists(texts_st, min_size=1, max_size=4), st.lists(st.booleans(), min_size=4, max_size=4), st.booleans())
def test_kernel_equals_reference_on_hypothesis_text(texts, skips, inner):
    skips = skips[: len(texts)]  # per text, as the scorer passes it (questions skip, answers do not)
    got, f = kernel(texts, skips, inner)
    for t, s, g in zip(texts, skips, got, strict=True):
        assert g == mentions(t, s, inner)
    assert f.ntokens.tolist() == [len(spans.tokens(spans.prepare(t))) for t in texts]
    # each mention's key bytes (offsets into the batch's packed buffer), read back on their own, are the same name
    buf, offsets = names.pack_texts(texts)
    raw = buf.tobytes()
    for d, start, end, h in zip(f.doc.tolist(), f.start.tolist(), f.end.tolist(), f.hash.tolist(), strict=True):
        assert offsets[d] <= start < end <= offsets[d + 1]
        key = raw[start:end].decode("utf-8", "surrogatepass")
        assert name_hash(key) == key_hash(key) == h


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_name_hash_equals_the_reference_key_hash(text):
    assert name_hash(text) == key_hash(text)
    assert name_hashes(text)[0] == name_hash(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200) | texts_st, st.booleans(), st.booleans())
def test_candidate_spans_are_unique_names(text, skip, numbers):
    names_ = candidate_spans(text, skip, numbers)
    assert len(names_) == len(set(names_))
    assert all(name_hash(n) and normalize_key(n) for n in names_)


def test_batch_keeps_text_index_and_token_counts():
    got, f = kernel(["Paris", "", "nothing at all", "in Paris and Rome"])
    assert f.doc.tolist() == [3, 3] and f.ntokens.tolist() == [1, 0, 3, 4]
    assert got[0] == [] and got[3] == mentions("in Paris and Rome")  # "Paris" alone opens its text


def test_a_long_document_grows_the_scratch_arrays():
    text = "We met Paris Hilton and " * 20_000  # 100,000 tokens > the preallocated 65,536
    got, f = kernel(["in Rome", text, "in Oslo"])
    assert f.ntokens.tolist() == [2, 100_000, 2] and len(got[1]) == 20_000
    assert got[1] == mentions(text) and got[2] == mentions("in Oslo")


# ---- the rule's documented behaviours -------------------------------------------------------------


def test_quoted_titles_are_one_name_and_quoted_sentences_are_not():
    text = 'Her album "Infinity on High" and the single "Man Down," then "Piggies". He said "We will win the war" today.'
    assert found(text) == [("Infinity on High", KIND_TITLE), ("Man Down", KIND_TITLE), ("Piggies", KIND_TITLE)]
    # title tokens take no part in the run rule: no inner "High", no run "Infinity"
    assert candidate_spans("\u201cThe Wild and Wonderful Whites of West Virginia\u201d by Julien Nitzberg") == [
        "The Wild and Wonderful Whites of West Virginia", "Julien Nitzberg"]
    assert name_hash("The Wild and Wonderful Whites of West Virginia") == mentions(
        "a \u201cThe Wild and Wonderful Whites of West Virginia\u201d")[0][2]  # a title starting with "The"


def test_numbers_never_glue_onto_names():
    assert found("In June 1938 Paris fell") == [("June", KIND_NAME), ("1938", KIND_NUMBER), ("Paris", KIND_NAME)]
    assert candidate_spans("the December 1898 Treaty of Paris") == ["December", "1898", "Treaty of Paris"]


def test_years_and_large_numbers_but_not_pieces_of_decimals_or_amounts():
    text = "In 1844 the town of Old Bar had 10,445 people, 12 dogs and a 6.213 km road; 2.5 km and $300 away in 1999"
    assert found(text, kinds={KIND_NUMBER}) == [("1844", KIND_NUMBER), ("10,445", KIND_NUMBER),
                                                 ("1999", KIND_NUMBER)]
    assert name_hash("213") not in {h for *_, h, _ in mentions("a 6.213 km road")}
    assert mentions("a 6.213 km road") == [] and mentions("$300 and 2.5") == []
    assert candidate_spans(text, numbers=False) == ["Old Bar"]


def test_stop_words_are_trimmed():
    assert found("We love The Beatles.") == [("Beatles", KIND_NAME)]
    assert candidate_spans("The University of Iowa and Lehigh University were founded before The Beatles.") == [
        "University of Iowa", "Lehigh University", "Beatles"]
    assert name_hash("The Beatles") == name_hash("Beatles") == mentions("We love The Beatles.")[0][2]


def test_sentence_initial_single_words_are_skipped_for_documents_and_kept_for_answers():
    text = "Musician and satirist Allie Goertz"
    assert candidate_spans(text) == ["Allie Goertz"]
    assert candidate_spans(text, skip_sentence_initial=False) == ["Musician", "Allie Goertz"]
    assert kernel([text], False)[0][0] == mentions(text, False) and len(mentions(text, False)) == 2
    assert candidate_spans("Pretoria is the answer", False) == ["Pretoria"]
    assert candidate_spans("Pretoria is the answer. Oslo is not") == []  # after a sentence end too
    assert candidate_spans("Bill Gates is here") == ["Bill Gates"]  # two words are a name anywhere


def test_inner_names():
    assert found("the Treaty of Paris was") == [("Treaty of Paris", KIND_NAME), ("Treaty", KIND_INNER),
                                                 ("Paris", KIND_INNER)]
    assert found("Republican Erik Paulsen won", False) == [
        ("Republican Erik Paulsen", KIND_NAME), ("Republican Erik", KIND_INNER), ("Erik Paulsen", KIND_INNER)]
    assert found("the Treaty of Paris was", inner=False) == [("Treaty of Paris", KIND_NAME)]
    assert found("in Paris") == [("Paris", KIND_NAME)]  # a one-word name has no inner name


def test_abbreviations_stay_inside_a_name_and_sentence_ends_split_runs():
    assert found("the Sammy Davis Jr. Award", kinds={KIND_NAME}) == [("Sammy Davis Jr. Award", KIND_NAME)]
    assert candidate_spans("the Sammy Davis Jr. Award and Warner Bros. Records") == [
        "Sammy Davis Jr. Award", "Warner Bros. Records"]
    text = "voiced by E'Shun Melvin for MTV in Vienna on 5 October, a film by Ali Abbas Zafar Ali. Frank Cottrell-Boyce"
    assert candidate_spans(text) == ["E'Shun Melvin", "MTV", "Vienna", "October", "Ali Abbas Zafar Ali",
                                     "Frank Cottrell-Boyce"]


def test_sentences_glued_without_a_space_are_two_names():
    text = "fantasy books by William Corlett.Jennifer Jane Saunders (born 1958) in Washington D.C. today"
    assert candidate_spans(text, numbers=False) == ["William Corlett", "Jennifer Jane Saunders", "Washington D.C"]
    assert candidate_spans("by William Corlett.Jennifer Saunders today") == ["William Corlett", "Jennifer Saunders"]


def test_possessives_are_dropped():
    assert candidate_spans("the Soap Opera Weekly's editor and the Slam Creepers' song") == [
        "Soap Opera Weekly", "Slam Creepers"]
    assert candidate_spans("Arthur's Magazine was first", False) == ["Arthur's Magazine"]  # not at the end
    assert name_hash("Microsoft") == name_hash("microsoft's") == name_hash("MICROSOFT") == key_hash("Microsoft's")
    assert name_hash("Microsoft") != name_hash("Microsoft Corporation")


def test_reply_words_are_not_names():
    assert candidate_spans("Yes, Larry Hagman and David Gordon Green are both actors.", False) == [
        "Larry Hagman", "David Gordon Green"]
    assert candidate_spans("No. Okay", False) == []


def test_thomas_dixon_jr_is_its_own_key():
    text = "a novel by Thomas Dixon Jr. in 1905"
    ms = mentions(text)
    assert found(text, kinds={KIND_NAME}) == [("Thomas Dixon Jr", KIND_NAME)]
    assert ms[0][2] == name_hash("Thomas Dixon Jr.") == name_hash("thomas dixon jr")
    assert name_hash("Thomas Dixon Jr.") not in {name_hash("Thomas"), name_hash("Thomas Dixon")}
    assert name_hash("...") == 0 and name_hash("") == 0  # nothing left of it


def test_case_folding_covers_latin1_greek_and_cyrillic():
    # (only these capitals: an accented Greek capital such as "Ά" is not folded, so "ΕΛΛΆΔΑ" is not "Ελλάδα")
    for a, b in (("Zürich", "ZÜRICH"), ("Αθηνα", "ΑΘΗΝΑ"), ("Москва", "МОСКВА"), ("São Paulo", "SÃO PAULO")):
        assert name_hash(a) == name_hash(b) == key_hash(b), a
    assert candidate_spans("from Zürich to Élysée Palace") == ["Zürich", "Élysée Palace"]


# ---- the gazetteer in the kernel ------------------------------------------------------------------


def test_gazetteer_matches_in_any_case_maps_aliases_and_counts_a_rule_match_once():
    gaz = Gazetteer([("Paris", "Paris"), ("Microsoft", "Microsoft"), ("Microsoft Corporation", "Microsoft"),
                     ("MSFT", "Microsoft"), ("New York City", "New York City")])
    texts = ["paris and PARIS", "MSFT and Microsoft Corporation in new york city", "by Microsoft"]
    got, _ = kernel(texts, gazetteer=gaz)
    paris, micro, nyc = name_hash("Paris"), name_hash("Microsoft"), name_hash("New York City")
    # paris@0 and PARIS@2: the gazetteer; PARIS is also a rule name (the same tokens, counted once)
    assert [(a, h) for a, _, h, _ in got[0]] == [(0, paris), (2, paris)]
    assert [(a, n, h, k) for a, n, h, k in got[0]][1][3] == KIND_NAME
    # MSFT@0 (an alias: gazetteer only, the rule skips it), "Microsoft Corporation"@2 (rule name = alias), nyc@5
    assert [(a, n, h) for a, n, h, _ in got[1]] == [(0, 1, micro), (2, 2, micro), (5, 3, nyc)]
    assert got[2] == [(1, 1, micro, KIND_NAME)]
    only, _ = kernel(texts, gazetteer=gaz, rules=False)  # --vocab: the list and nothing else
    assert [[(a, h, k) for a, _, h, k in ms] for ms in only] == [
        [(0, paris, KIND_GAZETTEER), (2, paris, KIND_GAZETTEER)],
        [(0, micro, KIND_GAZETTEER), (2, micro, KIND_GAZETTEER), (5, nyc, KIND_GAZETTEER)],
        [(1, micro, KIND_GAZETTEER)]]


def test_gazetteer_longest_match_wins():
    gaz = Gazetteer([("New York", "New York"), ("New York City", "New York City"), ("York", "York")])
    got, _ = kernel(["new york city and yorkshire and york and new york"], gazetteer=gaz, rules=False)
    assert [(a, n, h) for a, n, h, _ in got[0]] == [
        (0, 3, name_hash("New York City")), (6, 1, name_hash("York")), (8, 2, name_hash("New York"))]


def test_ngrams_hash_like_names():
    rows, hashes = names.ngrams(["who founded microsoft in 1975", "the Beatles"], 3)
    by_text = {}
    for (d, first, n, *_), h in zip(rows.tolist(), hashes.tolist(), strict=True):
        by_text.setdefault(d, []).append((first, n, h))
    assert (2, 1, name_hash("microsoft")) in by_text[0] and (0, 3, name_hash("who founded microsoft")) in by_text[0]
    assert all(h != name_hash("1975") for _, _, h in by_text[0])  # numbers come from the rule only
    assert (0, 2, name_hash("Beatles")) in by_text[1]  # "the" trimmed from the key


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | texts_st)
def test_a_lookup_by_name_hashes_the_bytes_as_name_hash_does(text):
    """`key_position` (the index's lookup: hash and search in one kernel call) keys a text as `name_hash` does."""
    import numpy as np

    h = names.name_hash_u64(text)
    keys = np.array(sorted({int(h), 7, 2**63}), dtype=np.uint64)
    k, h_lookup = names.key_position(text, keys)
    assert h_lookup == h
    if int(h) == 0:  # nothing of the text is a key
        assert k == -1
    else:
        assert k >= 0 and keys[k] == h
