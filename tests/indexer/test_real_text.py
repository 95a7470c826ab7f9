"""On real text (the bundled sample corpus): the index counts exactly what the reference rule finds.

For every name the reference rule (`spans.find_spans`, inner names included) finds in 300 Wikipedia leads and 4
State of the Union addresses (long documents: the windowed sweep), `Index.entity(name).docs` is the number of
documents in which the rule finds that name, counted by brute force; the whole name table, the common-word
flags and every pair equal the pure-Python reference (`benchmarks.baseline.count`)."""

import numpy as np
import pytest

from benchmarks import baseline
from cooc.indexer import spans
from cooc.indexer.names import name_hash
from cooc.scorer import Index
from tests.conftest import build, sample_texts, write_jsonl
from tests.indexer.test_count import reference

WINDOW = 1000


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    texts = sample_texts("wikipedia_vital_leads.jsonl.gz", 300) + sample_texts("sotu")
    d = tmp_path_factory.mktemp("real")
    build([write_jsonl(d / "docs.jsonl", [(str(i), t) for i, t in enumerate(texts)])], d / "idx", window=WINDOW)
    return texts, Index.open(d / "idx")


def test_every_name_the_rule_finds_has_its_brute_force_document_count(real):
    texts, idx = real
    docs_of: dict[int, set[int]] = {}
    written: set[str] = set()
    for i, text in enumerate(texts):
        prepared = spans.prepare(text)
        _, found = spans.find_spans(prepared)  # names, titles, numbers and inner names
        written |= {spans.span_text(prepared, s) for s in found}
        for _, _, h, _ in spans.mentions(text):
            docs_of.setdefault(h, set()).add(i)
    assert len(written) > 2000
    for name in sorted(written):
        h = name_hash(name)
        e = idx.entity(name)
        assert e is not None and e.docs == len(docs_of[h]), name
    assert idx.n_names == len(docs_of)
    assert idx.documents == len(texts)


def test_the_name_table_and_common_words_equal_the_reference(real):
    texts, idx = real
    ref = reference(texts, WINDOW)
    hashes = np.array(sorted(ref["docs"]), dtype=np.uint64)
    ids = idx.ids(hashes)
    assert (ids >= 0).all()
    got = {int(h): (idx.entity_by_id(i).docs, idx.entity_by_id(i).mentions) for h, i in zip(hashes, ids, strict=True)}
    assert got == {h: (ref["docs"][h], ref["mentions"][h]) for h in ref["docs"]}
    # a common word: one word, used in lowercase (not as a stop word) more often than as a name, not a number
    common = {h for h in ref["docs"] if ref["ntok"][h] == 1 and ref["lower"].get(h, 0) > ref["mentions"][h]
              and not ref["kinds"][h] & (1 << spans.KIND_NUMBER)}
    assert {int(h) for h, c in zip(hashes, idx.is_common(ids), strict=True) if c} == common
    assert 10 < len(common) < 1000 and idx.manifest["counts"]["common_words"] == len(common)


def test_pairs_equal_the_reference(real):
    texts, idx = real
    _, _, pairs = baseline.count(texts, WINDOW)
    common = set(idx.sql("SELECT hash FROM names WHERE common_word"))
    common = {int(h) for (h,) in common}
    kept = {k: v for k, v in pairs.items() if not set(k) & common}  # a common word's pairs are dropped
    a = idx.ids(np.array([k[0] for k in kept], dtype=np.uint64))
    b = idx.ids(np.array([k[1] for k in kept], dtype=np.uint64))
    assert (a >= 0).all() and (b >= 0).all()
    assert [p.docs for p in idx.pairs(a, b)] == list(kept.values())
    assert idx.manifest["counts"]["pairs"] == len(kept) == idx.sql("SELECT count(*) FROM pairs")[0][0]
    assert len(kept) > 20_000 and max(kept.values()) > 5
    dropped = [k for k in pairs if set(k) & common]
    assert dropped and all(p.docs == 0 for p in idx.pairs(idx.ids(np.array([k[0] for k in dropped[:100]], np.uint64)),
                                                           idx.ids(np.array([k[1] for k in dropped[:100]], np.uint64))))
