from hypothesis import given, settings
from hypothesis import strategies as st

from cooc.indexer.match import Matcher
from cooc.indexer.normalize import normalize_key

NAMES = ["New York", "New York City", "York", "Paris", "Zürich", "東京", "Ελλάδα", "U.S.", "São Paulo"]


def make() -> Matcher:
    return Matcher([(normalize_key(n), i) for i, n in enumerate(NAMES)])


def test_longest_match_first_and_token_boundaries():
    m = make()
    # "New York City" wins over "New York" and "York"; "Yorkshire" is not "York"
    assert [(p, NAMES[e]) for p, e, _ in m.match("New York City and Yorkshire and York")] == [
        (0, "New York City"), (6, "York")
    ]
    assert [(p, NAMES[e], n) for p, e, n in m.match("new york")] == [(0, "New York", 2)]


def test_case_insensitive_and_non_latin():
    m = make()
    found = [NAMES[e] for _, e, _ in m.match("ZÜRICH, 東京 and ΕΛΛΆΔΑ; SÃO PAULO in the U.S.")]
    assert found == ["Zürich", "東京", "Ελλάδα", "São Paulo", "U.S."]


def test_token_positions_count_punctuation():
    m = make()
    # paris(0) ,(1) york(2)
    assert [(p, NAMES[e]) for p, e, _ in m.match("Paris, York")] == [(0, "Paris"), (2, "York")]


def test_batch_keeps_document_index_and_token_counts():
    mentions = make().match_batch(["Paris", "", "nothing at all", "paris york"])
    assert mentions.doc.tolist() == [0, 3, 3]
    assert mentions.ntokens.tolist() == [1, 0, 3, 2]


def test_duplicate_token_sequences_are_conflicts_first_wins():
    m = Matcher([("u.s", 0), ("u. s", 1)])
    assert m.stats.conflicts == 1
    assert [e for _, e, _ in m.match("the U.S. army")] == [0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(NAMES + ["and", "the", "x"]), max_size=12), st.randoms())
def test_random_casing_gives_same_matches(words, rnd):
    m = make()
    text = " ".join(words)
    shuffled = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in text)
    assert m.match(text) == m.match(shuffled)
