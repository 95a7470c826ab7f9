from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cooc.indexer.count import WINDOW_DOC, Counter, pair_key, split_keys
from cooc.indexer.match import Mentions


def brute_force(docs, n_entities, window):
    """Reference: per document, every pair of mentions of distinct entities within the window."""
    ent_docs = [0] * n_entities
    ent_mentions = [0] * n_entities
    pairs: dict[int, int] = {}
    for mentions in docs:
        for e in {e for _, e in mentions}:
            ent_docs[e] += 1
        for _, e in mentions:
            ent_mentions[e] += 1
        seen = set()
        for (p1, a), (p2, b) in combinations(mentions, 2):
            if a != b and (window == WINDOW_DOC or abs(p1 - p2) <= window):
                seen.add(pair_key(a, b))
        for k in seen:
            pairs[k] = pairs.get(k, 0) + 1
    return ent_docs, ent_mentions, pairs


def to_mentions(docs) -> Mentions:
    rows = [(d, p, e) for d, ms in enumerate(docs) for p, e in ms]
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return Mentions(
        arr[:, 0].astype(np.int32), arr[:, 1].astype(np.int32), arr[:, 2].astype(np.int32),
        np.ones(len(rows), np.int32), np.zeros(len(docs), np.int64),
    )


doc_strategy = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 7)), max_size=15).map(
    # positions strictly increasing, as the matcher emits them
    lambda ms: [(i * 3 + gap, e) for i, (gap, e) in enumerate(ms)]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(doc_strategy, max_size=8), st.sampled_from([0, 1, 4, 10, WINDOW_DOC]), st.integers(1, 3))
def test_kernel_equals_brute_force_for_any_batching(docs, window, n_batches):
    ent_docs, ent_mentions, pairs = brute_force(docs, 8, window)
    c = Counter(8, window, initial_capacity=4)  # tiny table: exercises growth
    for i in range(n_batches):
        part = docs[len(docs) * i // n_batches: len(docs) * (i + 1) // n_batches]
        c.add(to_mentions(part))
    keys, counts = c.pairs()
    assert c.entity_docs.tolist() == ent_docs
    assert c.entity_mentions.tolist() == ent_mentions
    assert dict(zip(keys.tolist(), counts.tolist(), strict=True)) == pairs
    assert np.all(np.diff(keys.astype(np.float64)) > 0)


def test_pair_key_roundtrip():
    a, b = split_keys(np.array([pair_key(7, 3), pair_key(0, 2**31 - 1)], dtype=np.uint64))
    assert a.tolist() == [3, 0] and b.tolist() == [7, 2**31 - 1]
