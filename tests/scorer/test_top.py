"""Index.top and "did you mean" on a real index of tests/scorer/corpus.py (14 documents, window 10)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cooc.scorer import Index
from cooc.scorer.features import npmi, npmi_many
from cooc.scorer.suggest import did_you_mean
from tests.scorer.corpus import N_DOCS, build, write_docs


@pytest.fixture(scope="module")
def index(scorer_index_dir):
    return Index.open(scorer_index_dir)


def brute_force(index: Index, eid: int) -> dict[int, int]:
    """Every neighbour of eid and its documents, from index.duckdb (the slow path)."""
    return dict(index.sql("SELECT CASE WHEN a = ? THEN b ELSE a END, docs FROM pairs WHERE a = ? OR b = ?",
                          [eid, eid, eid]))


def test_neighbours_equal_the_duckdb_table_for_every_name(index):
    for eid in range(index.n_names):
        ids, docs = index.neighbours(eid)
        assert dict(zip(ids.tolist(), docs.tolist(), strict=True)) == brute_force(index, eid)


def test_top_orders_by_documents_then_npmi_and_by_npmi_then_documents(index):
    paris = index.top("paris")
    # Paris-France 2 documents (each in 2), Paris-Lyon 1 (Lyon in 3): corpus.py
    assert [(n.name, n.docs, n.name_docs) for n in paris] == [("France", 2, 2), ("Lyon", 1, 3)]
    assert paris[0].npmi == pytest.approx(1.0)
    assert paris[1].npmi == pytest.approx(math.log(N_DOCS / 6) / math.log(N_DOCS), abs=1e-6)
    microsoft = index.top("Microsoft", by="npmi")
    assert [n.name for n in microsoft][-1] == "Seattle"  # in 2 documents: the least exclusive partner
    assert all(a.npmi >= b.npmi for a, b in zip(microsoft, microsoft[1:], strict=False))
    assert len(index.top("Microsoft", k=1)) == 1
    assert index.top("Paris", min_docs=2) == paris[:1]
    assert index.top("Atlantis") == [] and index.top("Helicopter") == []  # unknown; a common word has no pairs
    with pytest.raises(ValueError, match="by must be one of"):
        index.top("Paris", by="pmi")


def test_top_of_an_index_without_pairs(tmp_path):
    ix = Index.open(build(write_docs(tmp_path / "d.jsonl", ["Only Paris here."]), tmp_path / "idx"))
    assert ix.top("Paris") == []


def test_did_you_mean_prefers_close_spellings_of_often_written_names(index):
    assert did_you_mean(index, "Micrsoft") == ["Microsoft"]
    assert did_you_mean(index, "bill gatez") == ["Bill Gates"]
    assert did_you_mean(index, "Zanzibar") == []  # nothing close
    assert did_you_mean(index, "Lyonn", n=1) == ["Lyon"]
    assert "Paris" not in did_you_mean(index, "PARIS")  # the name itself is no suggestion


@given(st.integers(1, 10**6), st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)), min_size=1, max_size=20),
       st.integers(1, 10**7))
def test_npmi_many_equals_npmi_pair_by_pair(c_a, pairs, n):
    c_ab = np.array([p[0] for p in pairs])
    c_b = np.array([p[1] for p in pairs])
    got = npmi_many(c_ab, c_a, c_b, n)
    assert got.tolist() == pytest.approx([npmi(int(x), c_a, int(y), n) for x, y in zip(c_ab, c_b, strict=True)])


def test_a_pruned_index_is_complete_only_when_it_pruned_nothing(tmp_path):
    from cooc.indexer.merge import MergeOptions
    from cooc.scorer.show import top_report

    docs = write_docs(tmp_path / "docs.jsonl", ["Ada Lovelace met Charles Babbage in London."] * 3)  # pairs: 3 docs
    kept = Index.open(build(docs, tmp_path / "k2", merge=MergeOptions(min_pair_docs=2)))
    assert kept.exact_table_complete and kept._sketch is None
    assert top_report(kept, "Ada Lovelace")["exact_table_complete"] is True
    pruned = Index.open(build(docs, tmp_path / "k5", merge=MergeOptions(min_pair_docs=5, sketch_mb=1)))
    assert not pruned.exact_table_complete and pruned._sketch is not None
    assert top_report(pruned, "Ada Lovelace")["exact_table_complete"] is False
