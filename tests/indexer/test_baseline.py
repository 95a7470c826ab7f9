"""The numba kernels equal the pure-Python reference (benchmarks/baseline.py), token for token."""

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import baseline
from cooc.indexer.count import Counter, split_keys
from cooc.indexer.match import Matcher
from cooc.indexer.normalize import normalize_key
from cooc.indexer.read import ReadOptions, ReadStats, read_file
from cooc.indexer.vocab import VocabConfig, Vocabulary, build_vocabulary

# letters, digits, case, ASCII punctuation, and everything the kernel folds itself
ALPHABET = "abcAB1 .,'`-\u2019\u201c\u201d\u2013\u2014\u2212\u00a0\u2009\u200b\ufeff\u00ab\u00bb\u00e9\u00c9\u00df\u6771\n\t"
words = st.text(alphabet=ALPHABET, min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(words, min_size=1, max_size=6), st.lists(words, max_size=30))
def test_matches_and_token_counts_equal_the_python_reference(names, text_words):
    entries = [(k, i) for i, k in enumerate(normalize_key(n) for n in names) if k]
    text = " ".join(text_words)
    fast, slow = Matcher(entries), baseline.PythonMatcher(entries)
    expected, n_tokens = slow.match(text)
    assert fast.count_tokens(text) == n_tokens
    assert [(p, e) for p, e, _ in fast.match(text)] == expected


SAMPLE = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize("window", [10, 1000])
def test_counts_on_the_bundled_sample_equal_the_python_reference(window, tmp_path):
    files = [SAMPLE / "sample" / "wikipedia_vital_leads.jsonl.gz", SAMPLE / "sample" / "hotpotqa_knowledge.parquet"]
    # a real vocabulary: the Wikipedia article titles of the sample plus the bundled gazetteer
    gaz = tmp_path / "titles.jsonl"
    titles = [json.loads(line)["title"] for line in gzip.open(files[0], "rt", encoding="utf-8")]
    gaz.write_text("".join(json.dumps({"name": t}) + "\n" for t in titles))
    vocab: Vocabulary = build_vocabulary(files, ReadOptions(), VocabConfig(ner=False, gazetteer=gaz))
    texts = [t for f in files for b in read_file(f, ReadOptions(), ReadStats()) for t in b.texts]
    fast = Matcher(vocab.entries())
    counter = Counter(len(vocab.entities), window)
    for i in range(0, len(texts), 500):
        counter.add(fast.match_batch(texts[i : i + 500]))
    ent_docs, pair_docs = baseline.count(baseline.PythonMatcher(vocab.entries()), texts, window)
    assert {e: d for e, d in enumerate(counter.entity_docs.tolist()) if d} == ent_docs
    keys, docs = counter.pairs()
    a, b = split_keys(keys)
    assert dict(zip(zip(a.tolist(), b.tolist(), strict=True), docs.tolist(), strict=True)) == pair_docs
    assert len(pair_docs) > 500  # the sample really exercises pairs
