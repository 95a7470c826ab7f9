"""The evidence store: built in the counting pass, per shard, resumable, merged with the index."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from cooc.indexer.build import parse_window
from cooc.indexer.errors import CoocError
from cooc.indexer.merge import MergeOptions, merge
from cooc.scorer import Index
from cooc.scorer.evidence import snippet
from tests.conftest import DOCS, GOLDEN_PAIRS_DOC, build, sample_texts, write_jsonl

# the documents each pair counts at --window doc, by hand from the positions in tests/conftest.py
PAIR_DOC_IDS = {
    ("Paris", "France"): {"d5", "d9"},  # d1's "Paris" opens the sentence: no name there
    ("Seattle", "France"): {"d6", "d7"},
    ("Seattle", "Paris"): {"d3"},
    ("Bill Gates", "Microsoft"): {"d2"},
    ("Treaty of Paris", "Britain"): {"d8"},
    ("Infinity on High", "Beatles"): {"d9"},
    ("Beatles", "France"): {"d9"},
}


@pytest.fixture(scope="module")
def doc_index(tmp_path_factory, corpus_files):
    out = tmp_path_factory.mktemp("ev") / "doc"
    build([corpus_files["jsonl"]], out, window=parse_window("doc"))
    return Index.open(out)


def _ids(index: Index, names: list[str]) -> set[str]:
    return {d.id for d in index.evidence(names, limit=100).docs}


def test_evidence_documents_include_every_document_a_pair_counts(doc_index):
    for (a, b), ids in PAIR_DOC_IDS.items():
        pair = doc_index.pair(doc_index.id_of(a), doc_index.id_of(b))
        assert pair.docs == len(ids) == GOLDEN_PAIRS_DOC[frozenset({a, b})]
        assert ids <= _ids(doc_index, [a, b]), (a, b)


def test_where_evidence_and_counts_differ_a_phrase_also_matches_where_no_name_is_counted(doc_index):
    # d1 "Paris is the capital of France.": the rule skips a single word opening a sentence; the phrase matches
    assert _ids(doc_index, ["Paris", "France"]) == {"d1", "d5", "d9"}
    # d8 "the Treaty of Paris ... Britain": the inner name Paris does not pair, the phrase "paris" is there
    assert doc_index.pair(doc_index.id_of("Paris"), doc_index.id_of("Britain")).docs == 0
    assert _ids(doc_index, ["Paris", "Britain"]) == {"d8"}


def test_snippets_contain_both_names_and_the_source(doc_index):
    r = doc_index.evidence(["Seattle", "France"])
    assert r.documents == 2 and len(r.docs) == 2
    for d in r.docs:
        assert "[Seattle]" in d.snippet and "[France]" in d.snippet
        assert d.file.endswith("docs.jsonl") and d.record == int(d.id[1:])  # one document a line
    near = doc_index.evidence(["Seattle", "France"], window=10)
    assert [d.id for d in near.docs] == ["d6"] and near.documents == 2  # d7: 11 words apart
    for d in r.docs:  # marks: the bracketed mentions, brackets excluded
        assert [d.snippet[a:b] for a, b in d.marks] == ["Seattle", "France"]
        assert all(d.snippet[a - 1] == "[" and d.snippet[b] == "]" for a, b in d.marks)


def test_snippet_marks_survive_collapsed_whitespace_and_far_apart_pieces():
    text = "The  \n\t [sic] Paris\ue000 " + "x" * 300 + "  of\n\nFrance."
    paris, france = text.index("Paris"), text.index("France")
    shown, marks = snippet(text, [(paris, paris + 5), (france, france + 6)], context=12)
    # by hand: pieces text[2:31] and text[315:334], whitespace runs (and the private-use stand-in) as one space
    assert shown == "…e [sic] [Paris] xxxxxxxxxx… …xxxxxx of [France]."
    assert [shown[a:b] for a, b in marks] == ["Paris", "France"]  # not "sic": brackets the text writes are no mark


def _brute_force(texts: list[str], phrase: str) -> int:
    words = re.findall(r"[a-z0-9]+", phrase.lower())
    n = 0
    for t in texts:
        toks = re.findall(r"[a-z0-9]+", t.lower())
        n += any(toks[i : i + len(words)] == words for i in range(len(toks) - len(words) + 1))
    return n


@pytest.fixture(scope="module")
def wiki(tmp_path_factory) -> tuple[Index, list[str]]:
    """The bundled Wikipedia leads written in ASCII (the brute force below knows no Unicode folding)."""
    texts = [t for t in sample_texts("wikipedia_vital_leads.jsonl.gz") if t.isascii()]
    d = tmp_path_factory.mktemp("wiki")
    build([write_jsonl(d / "leads.jsonl", [(f"w{i}", t) for i, t in enumerate(texts)])], d / "idx")
    return Index.open(d / "idx"), texts


@pytest.mark.parametrize("phrase", ["united states", "world war", "the first", "of the", "river", "roman empire",
                                    "nowhere in these leads"])
def test_a_phrase_count_equals_a_brute_force_count(wiki, phrase):
    index, texts = wiki
    assert index.documents == len(texts) > 100
    assert index.phrase_docs([phrase]) == _brute_force(texts, phrase)


def test_a_failed_build_keeps_finished_evidence_shards_and_the_rerun_does_only_the_rest(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    write_jsonl(shards / "a.jsonl", DOCS[:5])
    good = gzip.compress("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in DOCS[5:]).encode())
    (shards / "b.jsonl.gz").write_bytes(good[: len(good) // 2])  # truncated: the build fails on this shard
    out = tmp_path / "idx"
    with pytest.raises(CoocError, match="truncated"):
        build([shards], out)
    stores = sorted(p.name for p in (out / "parts").iterdir() if p.is_dir())
    assert len(stores) == 1 and stores[0].startswith("a.jsonl-") and stores[0].endswith(".evidence")
    assert not [p for p in (out / "parts").iterdir() if ".tmp-" in p.name]  # the failed shard left nothing
    kept = (out / "parts" / stores[0] / "meta.json").stat().st_mtime_ns
    (shards / "b.jsonl.gz").write_bytes(good)
    r = build([shards], out)
    assert r.shards_counted == 1
    assert (out / "parts" / stores[0] / "meta.json").stat().st_mtime_ns == kept
    index = Index.open(out)
    assert index.store.documents == len(DOCS) == index.documents
    assert _ids(index, ["Seattle", "France"]) == {"d6", "d7"}


def test_no_evidence_skips_it_and_merge_explains_a_missing_store(tmp_path, corpus_files):
    out = tmp_path / "bare"
    build([corpus_files["jsonl"]], out, merge=MergeOptions(evidence=False))
    index = Index.open(out)
    assert not index.has_evidence and index.manifest["evidence"] is None
    assert not [p for p in (out / "parts").iterdir() if p.is_dir()]
    with pytest.raises(CoocError, match="no evidence store"):
        index.evidence(["Paris"])
    with pytest.raises(CoocError, match="has no evidence store"):
        merge([out], tmp_path / "merged", MergeOptions())


def test_rank_parts_merge_into_one_store(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(3):
        write_jsonl(shards / f"s{i}.jsonl", [(f"{k}-{i}", t) for k, t in DOCS])
    out = tmp_path / "ranks"
    for rank in range(2):
        build([shards], out, rank=rank, world_size=2)
    merged = merge([out], tmp_path / "merged", MergeOptions())
    index = Index.open(merged.output)
    assert index.store.documents == 3 * len(DOCS) == index.documents
    assert index.manifest["evidence"]["segments"] >= 3
    assert _ids(index, ["Seattle", "Paris"]) == {"d3-0", "d3-1", "d3-2"}


def test_verify_checks_the_evidence_store(tmp_path, corpus_files):
    from cooc.indexer.verify import verify_index

    out = tmp_path / "idx"
    build([corpus_files["jsonl"]], out)
    assert verify_index(out) == []
    store = out / "gen-1" / "evidence"
    for f in store.iterdir():  # one shard, one segment: remove its files
        if f.is_file() and f.name != "meta.json":
            f.unlink()
    assert any("has no files" in p for p in verify_index(out))
