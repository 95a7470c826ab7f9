from hypothesis import given, settings
from hypothesis import strategies as st

from cooc.indexer.normalize import normalize_key, normalize_text


def test_key_examples():
    assert normalize_key("The Beatles") == "beatles"
    assert normalize_key("Microsoft's") == "microsoft"
    assert normalize_key("  Bill   GATES ") == "bill gates"
    assert normalize_key("\u201cZürich\u201d") == "zürich"
    assert normalize_key("U.S.") == "u.s"
    assert normalize_key("Coca\u2013Cola") == "coca-cola"
    assert normalize_key("Straße") == "strasse"  # casefold, not lower
    assert normalize_key("ﬁnance") == "finance"  # NFKC ligature
    assert normalize_key("...") == ""


def test_text_folds_quotes_and_case():
    assert normalize_text("Gates\u2019 MICROSOFT") == "gates' microsoft"


@given(st.text())
def test_key_normalization_is_idempotent(s):
    k = normalize_key(s)
    assert normalize_key(k) == k


@given(st.text())
def test_text_normalization_is_idempotent(s):
    t = normalize_text(s)
    assert normalize_text(t) == t


@given(st.text())
def test_utf8_equals_surrogatepass_encoding_for_any_text(s):
    from cooc.indexer.normalize import utf8

    for text in (s, s + "\ud800", "\udfff" + s):  # lone surrogates: valid in JSON escapes and in str
        assert utf8(text) == text.encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcXYZ019 '_.&-\t", min_size=1, max_size=12))
def test_the_clean_ascii_fast_path_equals_the_full_normalization(name):
    # a leading space takes the full path (an edge that is not alphanumeric), which strips it
    assert normalize_key(name) == normalize_key(" " + name)


def test_one_possessive_rule_for_keys_and_surface_forms():
    from cooc.indexer.normalize import strip_possessive

    assert [strip_possessive(t) for t in ("Paris's", "Paris\u2019s", "Jesus'", "Paris", "'s")] == \
        ["Paris", "Paris", "Jesus", "Paris", "'s"]
    assert normalize_key("Paris\u2019s") == normalize_key("Paris's") == "paris"
