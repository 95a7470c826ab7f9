"""Parts and merge: any split of the work gives the one-shot index, exactly. Names are keyed by hash, so parts
merge with no shared vocabulary."""

import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cooc.indexer import build as build_module
from cooc.indexer.build import MIN_BYTES_PER_WORKER, BuildConfig, build_index, shard_runner
from cooc.indexer.errors import CoocError
from cooc.indexer.merge import MergeOptions, merge
from cooc.indexer.read import ReadOptions
from cooc.indexer.runner import LocalRunner
from cooc.indexer.sketch import SketchShape
from cooc.scorer import Index
from tests.conftest import DOCS, SAMPLE, write_jsonl
from tests.helpers import COUNT_FILES, build_in_fresh_process, same_index

# no evidence store: these tests compare counts (tests/indexer/test_evidence.py merges the stores)
SMALL = MergeOptions(sketch_mb=0.25, evidence=False)
PRUNED = MergeOptions(sketch_mb=0.25, min_pair_docs=2, evidence=False)  # pairs in 1 document only in the sketch


def cfg(inputs, out, gazetteer=None, **kw) -> BuildConfig:
    return BuildConfig([str(p) for p in inputs], out, gazetteer=gazetteer, window=kw.pop("window", 10), progress=False,
                       merge=kw.pop("merge", SMALL), **kw)


def shard(tmp_path, docs, n):
    d = tmp_path / "shards"
    d.mkdir(exist_ok=True)
    return [write_jsonl(d / f"s{i:02d}.jsonl", docs[i::n]) for i in range(n)]


@pytest.mark.slow  # 8 examples x 3 builds and a merge; the tests below merge fixed splits
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(DOCS), min_size=2, max_size=16), st.integers(2, 4), st.data())
def test_merge_of_parts_equals_one_shot_build(tmp_path_factory, docs, n, data):
    tmp = tmp_path_factory.mktemp("prop")
    files = shard(tmp, docs, n)
    cut = data.draw(st.integers(1, n - 1))
    opts = data.draw(st.sampled_from([SMALL, PRUNED]))
    build_index(cfg(files, tmp / "all", merge=opts))
    build_index(cfg(files[:cut], tmp / "A"))  # no shared vocabulary: each build finds its own names
    build_index(cfg(files[cut:], tmp / "B"))
    merge([tmp / "A", tmp / "B"], tmp / "AB", opts)
    same_index(tmp / "all", tmp / "AB")


def test_merge_of_gazetteer_parts(tmp_path, gazetteer):
    files = shard(tmp_path, DOCS * 2, 3)
    build_index(cfg(files, tmp_path / "all", gazetteer))
    build_index(cfg(files[:1], tmp_path / "A", gazetteer))
    build_index(cfg(files[1:], tmp_path / "B", gazetteer))
    merge([tmp_path / "A", tmp_path / "B"], tmp_path / "AB", SMALL)
    same_index(tmp_path / "all", tmp_path / "AB")
    assert Index.open(tmp_path / "AB").entity("MSFT").name == "Microsoft"  # the aliases survive the merge


def test_workers_and_ranks_give_the_same_index(tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "MIN_BYTES_PER_WORKER", 1)  # these tiny shards still get 2 forked workers
    files = shard(tmp_path, DOCS * 3, 5)
    build_index(cfg(files, tmp_path / "w1", runner=LocalRunner(workers=1), merge=PRUNED))
    build_index(cfg(files, tmp_path / "w2", runner=LocalRunner(workers=2), merge=PRUNED))
    same_index(tmp_path / "w1", tmp_path / "w2")
    for rank in range(3):  # --world-size > 1 needs no shared vocabulary any more
        r = build_index(cfg(files, tmp_path / "ranks", rank=rank, world_size=3))
        assert r.merged is None and r.shards == len(files[rank::3])
    assert not (tmp_path / "ranks" / "manifest.json").exists()
    merge([tmp_path / "ranks"], tmp_path / "ranks", PRUNED)
    same_index(tmp_path / "w1", tmp_path / "ranks")
    with pytest.raises(CoocError, match=r"--rank must be in \[0, 3\)"):
        build_index(cfg(files, tmp_path / "bad", rank=3, world_size=3))


def test_rerun_skips_finished_shards_and_reuses_them(tmp_path):
    files = shard(tmp_path, DOCS * 2, 4)
    first = build_index(cfg(files, tmp_path / "idx"))
    assert first.shards_counted == 4
    again = build_index(cfg(files, tmp_path / "idx", force=True))
    assert again.shards_counted == 0
    files[1].write_text(files[1].read_text() + json.dumps({"text": "from Paris to Seattle"}) + "\n")
    changed = build_index(cfg(files, tmp_path / "idx", force=True))
    assert changed.shards_counted == 1 and changed.merged.documents == first.merged.documents + 1
    idx = Index.open(tmp_path / "idx")
    assert idx.pair(idx.entity("Paris").id, idx.entity("Seattle").id).docs == 1  # 2 apart in the new document


def test_merge_refuses_mismatched_parts(tmp_path, gazetteer, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "a"))
    build_index(cfg([corpus_files["parquet"]], tmp_path / "b", window=50))
    with pytest.raises(CoocError, match="differs in window"):
        merge([tmp_path / "a", tmp_path / "b"], tmp_path / "ab", SMALL)
    build_index(cfg([corpus_files["parquet"]], tmp_path / "c", gazetteer))
    with pytest.raises(CoocError, match="differs in gazetteer"):
        merge([tmp_path / "a", tmp_path / "c"], tmp_path / "ac", SMALL)
    build_index(cfg([corpus_files["parquet"]], tmp_path / "d", inner=False))
    with pytest.raises(CoocError, match="differs in inner"):
        merge([tmp_path / "a", tmp_path / "d"], tmp_path / "ad", SMALL)
    with pytest.raises(CoocError, match="no parts here"):
        merge([corpus_files["txt"]], tmp_path / "x", SMALL)
    shutil.copytree(tmp_path / "a" / "parts", tmp_path / "copy")
    with pytest.raises(CoocError, match="in both"):
        merge([tmp_path / "a", tmp_path / "copy"], tmp_path / "aa", SMALL)


def test_parts_of_different_files_merge_whatever_names_they_found(tmp_path, corpus_files):
    """Two builds that found different names (no vocabulary in common) merge into the build of both."""
    one = write_jsonl(tmp_path / "one.jsonl", DOCS[:4])
    two = write_jsonl(tmp_path / "two.jsonl", DOCS[4:])
    build_index(cfg([one], tmp_path / "A"))
    build_index(cfg([two], tmp_path / "B"))
    assert Index.open(tmp_path / "A").entity("Beatles") is None and Index.open(tmp_path / "B").entity("1975") is None
    merge([tmp_path / "A", tmp_path / "B"], tmp_path / "AB", SMALL)
    build_index(cfg([one, two], tmp_path / "both"))
    same_index(tmp_path / "both", tmp_path / "AB")


def test_by_default_the_sketch_is_sized_to_the_pruned_pairs(tmp_path, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "p", merge=MergeOptions(min_pair_docs=2)))
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    pruned = m["counts"]["pairs"] - m["counts"]["pairs_kept"]
    assert pruned > 0 and m["sketch"]["width"] == SketchShape.for_keys(pruned).width
    assert m["sketch"]["false_positive_rate"] <= 0.01
    assert Index.open(tmp_path / "p")._sketch.table.max() == 1  # only the pruned pairs, each in 1 document


def test_pruned_pairs_answer_from_the_sketch(tmp_path, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "p", merge=MergeOptions(min_pair_docs=2, sketch_mb=1)))
    idx = Index.open(tmp_path / "p")
    e = {n: idx.entity(n).id for n in ("Paris", "France", "Bill Gates", "Microsoft", "Seattle")}
    kept = idx.pair(e["Paris"], e["France"])  # 2 documents: kept
    assert (kept.docs, kept.source) == (2, "exact")
    pruned = idx.pair(e["Bill Gates"], e["Microsoft"])  # 1 document: only in the sketch
    assert (pruned.docs, pruned.source) == (1, "sketch")
    assert pruned.bound is not None and 0 <= pruned.false_positive_rate <= 1
    never = idx.pair(e["Bill Gates"], e["Seattle"])
    assert (never.docs, never.source) == (0, "sketch")
    assert [p.docs for p in idx.pairs(np.array([e["Paris"], e["Bill Gates"]]), np.array([e["France"], e["Seattle"]]))] \
        == [2, 0]
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert m["counts"]["pairs"] == 16 and m["counts"]["pairs_kept"] == 1 and m["config"]["min_pair_docs"] == 2


def test_dedup_exact_and_near(tmp_path):
    near = DOCS[1][1].replace("1975", "1976")
    files = shard(tmp_path, DOCS + DOCS[:2] + [("n", near)], 2)  # d1, d2 twice; d2 once more nearly
    plain = build_index(cfg(files, tmp_path / "plain"))
    exact = build_index(cfg(files, tmp_path / "exact", dedup="exact"))
    nearb = build_index(cfg(files, tmp_path / "near", dedup="near", dedup_threshold=0.5))
    assert plain.merged.documents == 12
    assert (exact.merged.documents, exact.merged.duplicates) == (10, 2)
    # near also drops the 1976 variant of d2 (word-trigram Jaccard 6/12) and d7, whose word-trigram set
    # {from seattle x, seattle x x, x x x, x x france} is the same as d6's
    assert (nearb.merged.documents, nearb.merged.duplicates) == (8, 4)
    assert Index.open(tmp_path / "exact").entity("Bill Gates").docs == 1 + 1  # d2 and its near copy
    assert Index.open(tmp_path / "near").entity("Bill Gates").docs == 1
    assert Index.open(tmp_path / "near").entity("Seattle").docs == 2  # d3, d6
    assert Index.open(tmp_path / "plain").entity("1976").docs == 1 and Index.open(tmp_path / "near").entity("1976") is None


def test_counting_workers_follow_the_input_size():
    """A worker per MIN_BYTES_PER_WORKER of input files, per shard, up to --workers; never fewer than one."""
    assert shard_runner(LocalRunner(workers=2), MIN_BYTES_PER_WORKER - 1, 3).workers == 1  # counted in this process
    assert shard_runner(LocalRunner(workers=2), 2 * MIN_BYTES_PER_WORKER, 3).workers == 2
    assert shard_runner(LocalRunner(workers=8), 100 * MIN_BYTES_PER_WORKER, 3).workers == 3
    assert shard_runner(LocalRunner(workers=2), 100 * MIN_BYTES_PER_WORKER, 1).workers == 1
    assert shard_runner(LocalRunner(workers=4), 3 * MIN_BYTES_PER_WORKER, 8).workers == 3


def test_parts_survive_a_failing_shard(tmp_path):
    files = shard(tmp_path, DOCS * 2, 3)
    bad = tmp_path / "shards" / "s99.jsonl"
    bad.write_text('{"body": "no text field"}\n')
    with pytest.raises(CoocError, match="s99.jsonl"):
        build_index(cfg([*files, bad], tmp_path / "idx", runner=LocalRunner(workers=2)))
    bad.unlink()
    r = build_index(cfg(files, tmp_path / "idx", runner=LocalRunner(workers=2)))
    assert r.shards_counted < 3  # the finished shards were kept


def test_force_discards_parts_counted_with_other_settings(tmp_path, gazetteer, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx"))
    with pytest.raises(CoocError, match="an index already exists; pass --force"):
        build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx", gazetteer))
    (tmp_path / "idx" / "manifest.json").unlink()  # as if interrupted before publishing
    with pytest.raises(CoocError, match="other settings.*--force to discard them"):
        build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx", gazetteer))
    r = build_index(cfg([corpus_files["jsonl"]], tmp_path / "idx", gazetteer, force=True))
    assert r.shards_counted == 1 and r.merged.names == 12  # the gazetteer build (conftest GAZ_NAMES)


def _sample_build(out, memory_mb):
    src = [str(SAMPLE / "wikipedia_vital_leads.jsonl.gz"), str(SAMPLE / "hotpotqa_knowledge.parquet")]
    r = build_index(BuildConfig(src, out, read=ReadOptions(batch_size=64), window=-1, memory_mb=memory_mb,
                                progress=False, merge=MergeOptions(sketch_mb=0.25, min_pair_docs=2)))
    runs = sorted(json.loads(p.read_text())["runs"] for p in (out / "parts").glob("*.done.json"))
    return r, runs, out


@pytest.fixture(scope="module")
def budget_builds(tmp_path_factory):
    """The sample built with --memory-mb 16 and 1024, pairs in 1 document pruned into a small sketch."""
    d = tmp_path_factory.mktemp("budget")
    return _sample_build(d / "16", 16), _sample_build(d / "1024", 1024)


def test_a_small_memory_budget_spills_runs_that_merge_to_the_same_index(budget_builds):
    """--memory-mb 16 (the least allowed): the tables of the sample (2 files, 4,000 documents, ~180,000 pairs
    in the whole-document window) pass half the budget several times per shard; the runs sum to one run."""
    (r16, runs16, d16), (r1g, runs1g, d1g) = budget_builds
    assert runs1g == [1, 1] and max(runs16) >= 2
    assert r16.merged.pairs == r1g.merged.pairs > 150_000 and r16.merged.pairs_kept == r1g.merged.pairs_kept
    same_index(d16, d1g, files=COUNT_FILES)


def test_the_sketch_depends_only_on_the_pair_totals(budget_builds):
    """A conservative-update sketch depends on the order of its updates: the merge adds the totals in key
    order, so however the counts were split (runs, parts), a small sketch (many collisions) comes out the same."""
    (_, _, d16), (_, _, d1g) = budget_builds
    assert np.array_equal(np.load(d16 / "sketch.npy"), np.load(d1g / "sketch.npy"))


@pytest.mark.slow  # 12 merges of the same parts
def test_display_names_are_reproducible(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, form in enumerate(["Paris", "PARIS", "Paris", "PARIS"]):
        write_jsonl(shards / f"s{i}.jsonl", [(str(i), f"in {form} today")])
    build_index(cfg([shards], tmp_path / "idx"))
    seen = set()
    for _ in range(12):  # both forms turn up within a few merges of the same parts
        merge([tmp_path / "idx"], tmp_path / "idx", SMALL, force=True)
        seen.add(Index.open(tmp_path / "idx").entity("Paris").name)
    assert len(seen) == 1, seen


@pytest.mark.parametrize("buckets, workers", [(2, 1), (8, 2), pytest.param(64, 2, marks=pytest.mark.slow)])
def test_any_number_of_buckets_and_workers_gives_the_same_index(tmp_path, corpus_files, buckets, workers):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "one", merge=PRUNED))  # one bucket (the automatic choice)
    opts = MergeOptions(sketch_mb=0.25, min_pair_docs=2, buckets=buckets, evidence=False)
    merge([tmp_path / "one"], tmp_path / "b", opts, LocalRunner(workers=workers))
    same_index(tmp_path / "one", tmp_path / "b")
    assert Index.open(tmp_path / "b").manifest["config"]["buckets"] == buckets
    assert not (tmp_path / "b" / ".merge-work").exists()  # published: the buckets' work is removed


class _StopAfter:
    """A runner that runs tasks in this process and dies after `limit` of them, as a killed merge would."""

    kind = "local"
    processes = 1

    def __init__(self, limit: int | None = None):
        self.limit, self.ran = limit, []

    def run(self, tasks, done):
        for task in tasks:
            if self.limit is not None and len(self.ran) >= self.limit:
                raise CoocError("killed")
            plan, k = task.args
            phase = "names" if "names" in task.name else "pairs"
            self.ran.append((phase, k, plan.is_done(phase, k)))
            done(task, task.fn(*task.args))
        return []


def test_an_interrupted_merge_reduces_only_the_unfinished_buckets(tmp_path, corpus_files):
    build_index(cfg([corpus_files["jsonl"]], tmp_path / "ref"))
    opts = MergeOptions(sketch_mb=0.25, buckets=4, evidence=False)
    with pytest.raises(CoocError, match="killed"):
        merge([tmp_path / "ref"], tmp_path / "idx", opts, _StopAfter(6), force=True)  # 4 names buckets, 2 pairs buckets
    again = _StopAfter()
    merge([tmp_path / "ref"], tmp_path / "idx", opts, again, force=True)
    assert [done for _, _, done in again.ran] == [True] * 6 + [False] * 2  # finished buckets are not redone
    same_index(tmp_path / "ref", tmp_path / "idx")


def test_bucket_counts_must_be_powers_of_two():
    with pytest.raises(CoocError, match="power of two"):
        MergeOptions(buckets=3)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 60_000), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_bucket_sums_in_a_growing_table_equal_a_group_by(chunks, seed):
    """Pair rows summed chunk by chunk into a table that doubles as it fills, keeping the rows whose first
    hash is in the bucket's range and whose names are not common words, give numpy's sorted group-by of
    the same rows' id keys."""
    from cooc.indexer.buckets import HashIndex, _sorted_totals, add_rows

    rng = np.random.default_rng(seed)
    hashes = np.unique(rng.integers(1, 2**64 - 1, 3000, dtype=np.uint64))
    common = rng.random(hashes.size) < 0.1
    lo, hi = sorted(int(h) for h in rng.choice(hashes, 2))
    lookup = HashIndex(hashes)
    table, used, all_keys, all_docs = np.zeros((16, 2), dtype=np.uint64), 0, [], []
    for n in chunks:
        ia = rng.integers(0, max(2, n // 2), n) % (hashes.size - 1)
        ib = ia + 1 + rng.integers(0, 50, n) % (hashes.size - 1 - ia)  # ia < ib < hashes.size
        docs = rng.integers(1, 9, n).astype(np.int64)
        a, b = hashes[ia], hashes[ib]
        table, used = add_rows(table, used, a, b, docs, lo, hi, lookup, common)
        keep = (a >= lo) & (a <= hi) & ~common[ia] & ~common[ib]
        all_keys.append((ia[keep].astype(np.uint64) << np.uint64(32)) | ib[keep].astype(np.uint64))
        all_docs.append(docs[keep])
    want, inverse = np.unique(np.concatenate(all_keys), return_inverse=True)
    keys, totals = _sorted_totals(table)
    assert used == want.size and 4 * used <= 3 * table.shape[0]
    assert np.array_equal(keys, want)
    assert np.array_equal(totals, np.bincount(inverse, weights=np.concatenate(all_docs), minlength=want.size)
                          .astype(np.int64))


def test_a_large_merge_gives_every_process_a_bucket():
    from cooc.indexer.buckets import PARALLEL_ROWS, ROWS_PER_BUCKET, default_buckets

    assert default_buckets(PARALLEL_ROWS, 2) == 1  # small: one bucket, no fork
    assert default_buckets(PARALLEL_ROWS + 1, 2) == 2 and default_buckets(PARALLEL_ROWS + 1, 3) == 4
    assert default_buckets(PARALLEL_ROWS + 1, 1) == 1
    assert default_buckets(3 * ROWS_PER_BUCKET, 2) == 4  # past the rows a bucket holds, that rule decides


def test_the_merge_warm_up_loads_the_kernels_the_merge_runs(tmp_path, corpus_files):
    """The merge pages LLVM's text out after `buckets.warm_kernels`: a kernel the merge then compiles or loads
    for other argument types (a read-only array is another signature) would read it back."""
    names = "('_sum_rows', '_grown', '_totals_of', '_build_index')"
    out = build_in_fresh_process(corpus_files["jsonl"], tmp_path / "idx",
                                 f"import json; from cooc.indexer import buckets; buckets.warm_kernels(); "
                                 f"before = {{k: len(getattr(buckets, k).signatures) for k in {names}}}",
                                 f"json.dumps([before, {{k: len(getattr(buckets, k).signatures) for k in {names}}}])")
    before, after = json.loads(out)
    assert before == after == dict.fromkeys(before, 1)


def test_only_a_build_that_forks_pages_out_the_libraries_its_workers_use(tmp_path, monkeypatch):
    """Counting in this process would read pyarrow's, numpy's and scipy's text straight back: only LLVM's goes."""
    seen = []
    real = build_module.warm_kernels
    monkeypatch.setattr(build_module, "warm_kernels", lambda forks: (seen.append(forks), real(forks)))
    files = shard(tmp_path, DOCS * 2, 2)
    build_index(cfg(files, tmp_path / "inline", runner=LocalRunner(workers=2)))  # tiny: one process, no fork
    monkeypatch.setattr(build_module, "MIN_BYTES_PER_WORKER", 1)
    build_index(cfg(files, tmp_path / "forked", runner=LocalRunner(workers=2)))
    build_index(cfg(files[:1], tmp_path / "one", runner=LocalRunner(workers=2)))  # one shard: counted here
    assert seen == [False, True, False]


def test_the_counting_warm_up_loads_every_kernel_a_build_counts_with(tmp_path, corpus_files):
    """`parts.warm_kernels` runs before workers fork and before LLVM's text is paged out: a counting kernel the
    build then loads for the first time (or for other argument types) would be loaded again in every worker."""
    kernels = ("{m.__name__ + '.' + k: len(f.signatures) for m in (count, names, parts, sketch) "
               "for k, f in vars(m).items() if hasattr(f, 'signatures')}")
    out = build_in_fresh_process(corpus_files["jsonl"], tmp_path / "idx",
                                 "import json; from cooc.indexer import count, names, parts, sketch; "
                                 f"parts.warm_kernels(False); before = {kernels}",
                                 f"json.dumps([before, {kernels}])")
    before, after = json.loads(out)
    assert before == after and before["cooc.indexer.parts.bucket_order"] == 1


@pytest.mark.parametrize("buckets", [1, 2, 4, 16, 4096])
def test_pair_buckets_tile_the_hashes_and_share_the_rows_evenly(buckets):
    """A pair's `a` is the smaller of two hashes: buckets cut at its quantiles (on multiples of 2^48, the parts'
    grouping) each get about 1/B of the rows, where equal ranges gave 2 buckets 75% and 25%."""
    from cooc.indexer.buckets import PAIR_CUT_SHIFT, BucketPlan

    plan = BucketPlan("work", buckets, (), (), (), "1GB", 1, 1)
    bounds = [plan.pair_bounds(k) for k in range(buckets)]
    assert bounds[0][0] == 0 and bounds[-1][1] == 2**64 - 1
    assert all(hi + 1 == nxt for (_, hi), (nxt, _) in zip(bounds, bounds[1:], strict=False))
    assert all(lo < hi and lo % (1 << PAIR_CUT_SHIFT) == 0 for lo, hi in bounds)
    if buckets <= 16:
        rng = np.random.default_rng(buckets)
        a = rng.integers(0, 2**64, (2, 200_000), dtype=np.uint64).min(axis=0)
        los = np.array([lo for lo, _ in bounds], dtype=np.uint64)
        shares = np.bincount(np.searchsorted(los, a, side="right") - 1, minlength=buckets) / a.size
        assert np.all(np.abs(shares - 1 / buckets) < 0.1 / buckets), shares
