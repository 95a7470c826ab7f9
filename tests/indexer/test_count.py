"""The counting kernel (`ShardCounter`) equals the pure-Python reference (`benchmarks.baseline.count`) for any
batching, any window and any memory budget: runs handed out early sum to the one-run counts."""

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import baseline
from cooc.indexer import spans
from cooc.indexer.count import WINDOW_DOC, Run, ShardCounter, pair_key, split_keys
from cooc.indexer.names import find_batch
from tests.conftest import DOCS, sample_texts


def summed(runs: list[Run]) -> dict:
    """The runs of a shard added up, as the merge adds them (names by hash, pairs by hash pair)."""
    docs, ments, kinds, ntok, pairs, lower = (defaultdict(int) for _ in range(6))
    documents = tokens = 0
    for r in runs:
        assert np.all(r.pair_a < r.pair_b)
        assert len(set(zip(r.pair_a.tolist(), r.pair_b.tolist(), strict=True))) == r.pair_a.size
        assert len(set(r.hash.tolist())) == r.hash.size and len(r.names) == r.hash.size
        for h, d, m, k, n in zip(r.hash.tolist(), r.docs.tolist(), r.mentions.tolist(), r.kinds.tolist(),
                                 r.ntok.tolist(), strict=True):
            docs[h] += d
            ments[h] += m
            kinds[h] |= k
            ntok[h] = n
        for a, b, d in zip(r.pair_a.tolist(), r.pair_b.tolist(), r.pair_docs.tolist(), strict=True):
            pairs[(a, b)] += d
        for h, u in zip(r.lower_hash.tolist(), r.lower_uses.tolist(), strict=True):
            lower[h] += u
        documents, tokens = documents + r.documents, tokens + r.tokens
    return {"docs": dict(docs), "mentions": dict(ments), "kinds": dict(kinds), "ntok": dict(ntok),
            "pairs": dict(pairs), "lower": dict(lower), "documents": documents, "tokens": tokens}


def reference(texts: list[str], window: int, inner: bool = True) -> dict:
    """baseline.count plus what it leaves out: kinds, key lengths, lowercase uses, tokens."""
    docs, ments, pairs = baseline.count(texts, window, inner)
    kinds, ntok, lower = defaultdict(int), {}, defaultdict(int)
    stop = set(spans.stop_words())
    tokens = 0
    for text in texts:
        prepared = spans.prepare(text)
        toks, sp = spans.find_spans(prepared, True, inner)
        tokens += len(toks)
        for s in sp:
            kt = spans.key_tokens(toks[s.first : s.last + 1])
            if kt:
                h = spans.seq_hash(kt)[0]
                kinds[h] |= 1 << s.kind
                ntok[h] = len(kt)
        for t in toks:  # a lowercase use: a word token starting lowercase, no capital, not a stop word
            if t.word and t.flags & spans.F_LOWER and t.text not in stop:
                lower[spans.seq_hash([t])[0]] += 1
    return {"docs": docs, "mentions": ments, "kinds": dict(kinds), "ntok": ntok, "pairs": pairs, "lower": dict(lower),
            "documents": len(texts), "tokens": tokens}


def count(texts, window, batches=1, inner=True, memory_mb=1024.0) -> tuple[dict, int]:
    c = ShardCounter(window, inner=inner, memory_mb=memory_mb)
    runs: list[Run] = []
    for i in range(batches):
        part = texts[len(texts) * i // batches : len(texts) * (i + 1) // batches]
        if part:
            runs += c.add(part)
    runs.append(c.run())
    return summed(runs), len(runs)


# Documents of a few names written many ways, so that names repeat and pairs form at every distance.
WORDS = ["Paris", "France", "the Treaty of Paris", "Bill Gates", "in", "and", "x", "paris", "1999", ",", ".",
         '"Infinity on High"', "New York City", "of", "The", "Jr.", "Apple", "apple", "\n"]
doc_st = st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.lists(doc_st, max_size=10), st.sampled_from([0, 1, 4, 10, 1000, WINDOW_DOC]), st.integers(1, 4),
       st.booleans(), st.booleans())
def test_counts_equal_the_reference_for_any_batching_and_budget(texts, window, batches, inner, spill):
    got, n_runs = count(texts, window, batches, inner, memory_mb=0.01 if spill else 1024)
    assert got == reference(texts, window, inner)
    if spill:  # a budget below the tables' size hands out a run after every batch
        assert n_runs == sum(1 for i in range(batches) if texts[len(texts) * i // batches : len(texts) * (i + 1) // batches]) + 1


def test_golden_documents():
    texts = [t for _, t in DOCS]
    for window in (10, WINDOW_DOC):
        assert count(texts, window)[0] == reference(texts, window)


def test_a_long_document_with_thousands_of_pairs_in_the_window():
    """The per-document pair filter fills up (4,096 distinct pairs) and is reset: every pair still counts once."""
    names = [f"Q{i}" for i in range(300)]
    rng = np.random.default_rng(0)
    text = " ".join(f"in {names[k]}" for k in rng.integers(0, 300, 3000))  # 3,000 mentions, 6,000 tokens
    for window in (40, 400):
        got, _ = count([text, text[:2000]], window)
        ref = reference([text, text[:2000]], window)
        assert got == ref and len(ref["pairs"]) > 4096


def test_pair_updates_queued_past_the_queue_inside_one_document():
    """A budget of 0.01 MiB gives the smallest pair queue (4,096 updates): it fills and is applied to the table
    several times inside one document, and a document still adds at most 1 to each pair."""
    names = [f"Q{i}" for i in range(300)]
    rng = np.random.default_rng(1)
    text = " ".join(f"in {names[k]}" for k in rng.integers(0, 300, 3000))
    texts = [text, text[:3000], text]
    for window in (400, WINDOW_DOC):
        got, _ = count(texts, window, memory_mb=0.01)
        ref = reference(texts, window)
        assert got == ref and len(ref["pairs"]) > 3 * 4096


def test_real_text_spilled_in_many_runs_sums_to_one_run():
    texts = sample_texts("wikipedia_vital_leads.jsonl.gz", 300)
    one, n1 = count(texts, 1000, batches=10)
    many, n_many = count(texts, 1000, batches=10, memory_mb=0.01)
    assert (n1, n_many) == (1, 11)
    assert one == many == reference(texts, 1000)
    assert len(one["pairs"]) > 10_000


def test_pair_key_roundtrip():
    a, b = split_keys(np.array([pair_key(7, 3), pair_key(0, 2**31 - 1)], dtype=np.uint64))
    assert a.tolist() == [3, 0] and b.tolist() == [7, 2**31 - 1]


def first_surface_forms(texts: list[str]) -> dict[int, str]:
    """Each name hash's surface form where the texts first write it, from the finder's mention offsets."""
    found = find_batch(texts)
    raw = found.buf.tobytes()
    first: dict[int, str] = {}
    for h, s, e in zip(found.hash.tolist(), found.start.tolist(), found.end.tolist(), strict=True):
        first.setdefault(h, raw[s:e].decode())  # offsets into the batch's buffer
    return first


@settings(max_examples=100, deadline=None)
@given(st.lists(doc_st | st.text(max_size=30).map(lambda t: t + " in Paris"), max_size=8), st.integers(1, 3))
def test_a_run_names_each_hash_by_its_first_surface_form(texts, batches):
    """The surface forms a run hands out (gathered as bytes per batch, one Arrow string array per run) are
    where the texts first write each name, across batches."""
    c = ShardCounter(1000)
    for i in range(batches):
        c.add(texts[len(texts) * i // batches : len(texts) * (i + 1) // batches])
    run = c.run()
    assert run.names.type == "string" and len(run.names) == run.hash.size
    got = dict(zip(run.hash.tolist(), run.names.to_pylist(), strict=True))
    assert got == first_surface_forms(texts)


def test_a_name_with_a_lone_surrogate_is_stored_with_a_replacement_character():
    """Readers never yield one (a JSON "\\ud800" is a malformed record), but the API may: the display name is
    written with U+FFFD instead of failing to encode."""
    c = ShardCounter(1000)
    c.add(["We met Zo\ud800e Baker in Paris."])
    names = c.run().names.to_pylist()
    assert "Paris" in names and any("\ufffd" in n for n in names)
