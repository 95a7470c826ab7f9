"""Parts and merge: any split of the work gives the one-shot index, exactly."""

import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cooc.indexer.build import BuildConfig, build_index
from cooc.indexer.errors import CoocError
from cooc.indexer.merge import MergeOptions, merge
from cooc.indexer.vocab import VocabConfig
from cooc.scorer import Index
from tests.conftest import DOCS, write_jsonl

INDEX_FILES = ("entities.docs.npy", "entities.mentions.npy", "pairs.keys.npy", "pairs.docs.npy", "sketch.npy")
SMALL = MergeOptions(sketch_mb=0.25)


def files_equal(a, b) -> None:
    for f in INDEX_FILES:
        assert np.array_equal(np.load(a / f), np.load(b / f)), f
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    for key in ("documents", "tokens", "bytes"):
        assert ma["corpus"][key] == mb["corpus"][key]
    assert ma["counts"] == mb["counts"] and ma["sketch"] == mb["sketch"]


def cfg(inputs, out, gazetteer=None, vocab_file=None, **kw) -> BuildConfig:
    return BuildConfig([str(p) for p in inputs], out, vocab=VocabConfig(ner=False, gazetteer=gazetteer),
                       vocab_file=vocab_file, window=10, progress=False, merge=kw.pop("merge", SMALL), **kw)


def shard(tmp_path, docs, n):
    d = tmp_path / "shards"
    d.mkdir(exist_ok=True)
    return [write_jsonl(d / f"s{i:02d}.jsonl", docs[i::n]) for i in range(n)]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(DOCS), min_size=2, max_size=16), st.integers(2, 4), st.data())
def test_merge_of_parts_equals_one_shot_build(tmp_path_factory, gazetteer, docs, n, data):
    tmp = tmp_path_factory.mktemp("prop")
    files = shard(tmp, docs, n)
    cut = data.draw(st.integers(1, n - 1))
    build_index(cfg(files, tmp / "all", gazetteer))
    vocab = tmp / "all" / "vocab.jsonl"
    build_index(cfg(files[:cut], tmp / "A", vocab_file=vocab))
    build_index(cfg(files[cut:], tmp / "B", vocab_file=vocab))
    merge([tmp / "A", tmp / "B"], tmp / "AB", SMALL)
    files_equal(tmp / "all", tmp / "AB")


def test_workers_and_ranks_give_the_same_index(tmp_path, gazetteer):
    files = shard(tmp_path, DOCS * 3, 5)
    build_index(cfg(files, tmp_path / "w1", gazetteer, workers=1))
    vocab = tmp_path / "w1" / "vocab.jsonl"
    build_index(cfg(files, tmp_path / "w2", vocab_file=vocab, workers=2))
    files_equal(tmp_path / "w1", tmp_path / "w2")
    for rank in range(3):
        r = build_index(cfg(files, tmp_path / "ranks", vocab_file=vocab, rank=rank, world_size=3))
        assert r.merged is None and r.shards == len(files[rank::3])
    assert not (tmp_path / "ranks" / "manifest.json").exists()
    merge([tmp_path / "ranks"], tmp_path / "ranks", SMALL)
    files_equal(tmp_path / "w1", tmp_path / "ranks")


def test_world_size_needs_a_shared_vocabulary(tmp_path, gazetteer):
    with pytest.raises(CoocError, match="cooc vocab"):
        build_index(cfg(shard(tmp_path, DOCS, 2), tmp_path / "x", gazetteer, rank=0, world_size=2))


def test_rerun_skips_finished_shards_and_reuses_them(tmp_path, gazetteer):
    files = shard(tmp_path, DOCS * 2, 4)
    first = build_index(cfg(files, tmp_path / "idx", gazetteer))
    assert first.shards_counted == 4
    again = build_index(cfg(files, tmp_path / "idx", gazetteer, force=True))
    assert again.shards_counted == 0
    files[1].write_text(files[1].read_text() + json.dumps({"text": "Paris and Seattle"}) + "\n")
    changed = build_index(cfg(files, tmp_path / "idx", gazetteer, force=True))
    assert changed.shards_counted == 1 and changed.merged.documents == first.merged.documents + 1


def test_merge_refuses_mismatched_parts(tmp_path, gazetteer, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "a", gazetteer))
    vocab = tmp_path / "a" / "vocab.jsonl"
    wide = cfg([corpus_files["parquet"]], tmp_path / "b", vocab_file=vocab)
    wide.window = 50
    build_index(wide)
    with pytest.raises(CoocError, match="differs in window"):
        merge([tmp_path / "a", tmp_path / "b"], tmp_path / "ab", SMALL)
    other = tmp_path / "other.tsv"
    other.write_text("Paris\nLondon\n")
    build_index(cfg([corpus_files["parquet"]], tmp_path / "c", other))
    with pytest.raises(CoocError, match="different vocabulary"):
        merge([tmp_path / "a", tmp_path / "c"], tmp_path / "ac", SMALL)
    with pytest.raises(CoocError, match="no parts here"):
        merge([corpus_files["txt"]], tmp_path / "x", SMALL)
    shutil.copytree(tmp_path / "a" / "parts", tmp_path / "copy")
    with pytest.raises(CoocError, match="in both"):
        merge([tmp_path / "a", tmp_path / "copy"], tmp_path / "aa", SMALL)


def test_pruned_pairs_answer_from_the_sketch(tmp_path, gazetteer, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "p", gazetteer, merge=MergeOptions(min_pair_docs=2, sketch_mb=1)))
    idx = Index.open(tmp_path / "p")
    e = {n: idx.entity(n).id for n in ("Paris", "France", "Bill Gates", "Microsoft", "Seattle")}
    kept = idx.pair(e["Paris"], e["France"])  # 2 documents: kept
    assert (kept.docs, kept.source) == (2, "exact")
    pruned = idx.pair(e["Bill Gates"], e["Microsoft"])  # 1 document: only in the sketch
    assert (pruned.docs, pruned.source) == (1, "sketch")
    assert pruned.bound is not None and 0 <= pruned.false_positive_rate <= 1
    never = idx.pair(e["Bill Gates"], e["Seattle"])
    assert (never.docs, never.source) == (0, "sketch")
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert m["counts"]["pairs"] == 4 and m["counts"]["pairs_kept"] == 1 and m["config"]["min_pair_docs"] == 2


def test_dedup_exact_and_near(tmp_path, gazetteer):
    near = DOCS[1][1].replace("1975", "1976")
    files = shard(tmp_path, DOCS + DOCS[:2] + [("n", near)], 2)  # d1, d2 twice; d2 once more nearly
    plain = build_index(cfg(files, tmp_path / "plain", gazetteer))
    exact = build_index(cfg(files, tmp_path / "exact", gazetteer, dedup="exact"))
    nearb = build_index(cfg(files, tmp_path / "near", gazetteer, dedup="near", dedup_threshold=0.5))
    assert plain.merged.documents == 10
    assert (exact.merged.documents, exact.merged.duplicates) == (8, 2)
    # near also drops the 1976 variant of d2 (trigram Jaccard 7/13) and d7, whose word-trigram set
    # {seattle x x, x x x, x x france} is the same as d6's
    assert (nearb.merged.documents, nearb.merged.duplicates) == (6, 4)
    assert Index.open(tmp_path / "exact").entity("Bill Gates").docs == 1 + 1  # d2 and its near copy
    assert Index.open(tmp_path / "near").entity("Bill Gates").docs == 1


def test_parts_survive_a_failing_shard(tmp_path, gazetteer):
    files = shard(tmp_path, DOCS * 2, 3)
    bad = tmp_path / "shards" / "s99.jsonl"
    bad.write_text('{"body": "no text field"}\n')
    with pytest.raises(CoocError, match="s99.jsonl"):
        build_index(cfg([*files, bad], tmp_path / "idx", gazetteer, workers=2))
    bad.unlink()
    r = build_index(cfg(files, tmp_path / "idx", gazetteer, workers=2))
    assert r.shards_counted < 3  # the finished shards were kept


def test_force_discards_parts_of_another_vocabulary(tmp_path, gazetteer, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx", gazetteer))
    other = tmp_path / "other.tsv"
    other.write_text("Paris\nFrance\n")
    with pytest.raises(CoocError, match="an index already exists; pass --force"):
        build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx", other))
    (tmp_path / "idx" / "manifest.json").unlink()  # as if interrupted before publishing
    with pytest.raises(CoocError, match="another vocabulary.*--force to discard them"):
        build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx", other))
    r = build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx", other, force=True))
    assert r.shards_counted == 1 and r.merged.entities == 2
