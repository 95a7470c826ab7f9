from hypothesis import given
from hypothesis import strategies as st

from cooc.indexer.normalize import normalize_key
from cooc.indexer.spans import candidate_spans, is_number


def test_runs_connectors_and_stop_words():
    text = "The University of Iowa and Lehigh University were founded before The Beatles."
    assert candidate_spans(text, skip_sentence_initial=True) == ["University of Iowa", "Lehigh University", "Beatles"]


def test_sentence_initial_word_is_skipped_only_when_asked():
    assert candidate_spans("Musician and satirist Allie Goertz", True) == ["Allie Goertz"]
    assert candidate_spans("Pretoria is the answer", False) == ["Pretoria"]


def test_trailing_possessive_is_not_part_of_the_name():
    assert candidate_spans("Soap Opera Weekly's sister and the Slam Creepers' song", True) == [
        "Soap Opera Weekly", "Slam Creepers"]
    assert candidate_spans("Arthur's Magazine was first", False) == ["Arthur's Magazine"]


def test_sentences_glued_without_a_space_are_two_runs():
    text = "fantasy books by William Corlett.Jennifer Jane Saunders (born 1958) in Washington D.C. today"
    assert candidate_spans(text, True) == ["William Corlett", "Jennifer Jane Saunders", "Washington D.C"]


def test_numbers_only_when_asked():
    text = "In 1844 the town of Old Bar had 10,445 people and 12 dogs; 2.5 km and $300 away"
    assert candidate_spans(text, True) == ["Old Bar"]
    assert candidate_spans(text, True, numbers=True) == ["Old Bar", "1844", "10,445"]
    assert is_number("1844") and is_number("10,445") and not is_number("12") and not is_number("1844a")


@given(st.text(max_size=200), st.booleans(), st.booleans())
def test_spans_are_unique_and_have_a_key(text, skip, numbers):
    spans = candidate_spans(text, skip, numbers)
    assert len(spans) == len(set(spans))
    assert all(normalize_key(s) for s in spans)


def test_prepositions_split_names_and_short_sentence_ends_split_runs():
    text = "voiced by E'Shun Melvin for MTV in Vienna on 5 October, a film by Ali Abbas Zafar Ali. Frank Cottrell-Boyce"
    assert candidate_spans(text, True) == ["E'Shun Melvin", "MTV", "Vienna", "October", "Ali Abbas Zafar Ali",
                                           "Frank Cottrell-Boyce"]
    assert candidate_spans("the Sammy Davis Jr. Award and Warner Bros. Records", True) == [
        "Sammy Davis Jr. Award", "Warner Bros. Records"]


def test_reply_words_are_not_names():
    assert candidate_spans("Yes, Larry Hagman and David Gordon Green are both actors.", False) == [
        "Larry Hagman", "David Gordon Green"]
    assert candidate_spans("No. Okay", False) == []


def test_quoted_titles_are_one_span_and_quoted_sentences_are_not():
    text = 'Her album "Infinity on High" and the single "Man Down," then "Piggies". He said "We will win the war" today.'
    assert candidate_spans(text, True) == ["Infinity on High", "Man Down", "Piggies"]
    assert candidate_spans("\u201cThe Wild and Wonderful Whites of West Virginia\u201d by Julien Nitzberg", True) == [
        "The Wild and Wonderful Whites of West Virginia", "Julien Nitzberg"]
