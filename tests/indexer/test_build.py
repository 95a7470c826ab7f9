"""Golden counts (worked out by hand in conftest.py), format equivalence, the manifest and the index format."""

import json
import shutil
import subprocess
import sys

import duckdb
import numpy as np
import pytest

from benchmarks import baseline
from cooc.indexer.count import WINDOW_DOC
from cooc.indexer.errors import CoocError, IndexFormatError
from cooc.indexer.names import name_hash
from cooc.scorer import Index
from tests.conftest import (
    DOCS,
    GAZ_LABELS,
    GAZ_NAMES,
    GAZ_PAIRS_DOC,
    GAZ_PAIRS_W10,
    GAZETTEER,
    GOLDEN_LABELS,
    GOLDEN_NAMES,
    GOLDEN_PAIRS_DOC,
    GOLDEN_PAIRS_W10,
    N_TOKENS,
    build,
    write_jsonl,
)
from tests.helpers import build_in_fresh_process

ARRAYS = ("names.hash.npy", "names.docs.npy", "names.mentions.npy", "names.lower.npy", "names.flags.npy",
          "pairs.keys.npy", "pairs.docs.npy")


def by_hash(names: dict, pairs: dict) -> tuple[dict, dict]:
    """Golden tables keyed as the index keys them: by name hash."""
    return ({name_hash(n): v for n, v in names.items()},
            {frozenset(name_hash(n) for n in k): v for k, v in pairs.items()})


def read_counts(index_dir) -> tuple[dict, dict, dict]:
    """(hash -> (docs, mentions), {hash_a, hash_b} -> docs, display name -> label), from index.duckdb."""
    con = duckdb.connect(str(index_dir / "index.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT hash, name, label, docs, mentions FROM names ORDER BY id").fetchall()
        pairs = {
            frozenset({int(ha), int(hb)}): d
            for ha, hb, d in con.execute(
                "SELECT na.hash, nb.hash, p.docs FROM pairs p JOIN names na ON na.id = p.a JOIN names nb ON nb.id = p.b"
            ).fetchall()
        }
        ordered = con.execute("SELECT bool_and(a < b), count(*) FROM pairs").fetchone()
        keys = [k for (k,) in con.execute("SELECT key FROM pairs").fetchall()]
    finally:
        con.close()
    assert ordered[0] in (True, None)
    assert keys == sorted(keys)
    hashes = [int(h) for h, *_ in rows]
    assert hashes == sorted(hashes)  # a name's id is its row in hash order
    return {int(h): (d, m) for h, _, _, d, m in rows}, pairs, {n: lab for _, n, lab, _, _ in rows}


def test_the_default_goldens_equal_the_python_reference():
    """The hand-made numbers of conftest.py, recomputed by the pure-Python reference (rule + dicts)."""
    texts = [t for _, t in DOCS]
    for window, golden_pairs in ((10, GOLDEN_PAIRS_W10), (WINDOW_DOC, GOLDEN_PAIRS_DOC)):
        docs, mentions, pairs = baseline.count(texts, window)
        names, golden = by_hash(GOLDEN_NAMES, golden_pairs)
        assert {h: (docs[h], mentions[h]) for h in docs} == names
        assert {frozenset(k): v for k, v in pairs.items()} == golden


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "txt"])
def test_golden_counts_window_every_format(tmp_path, corpus_files, fmt):
    result = build([corpus_files[fmt]], tmp_path / "idx", window=10)
    assert result.merged.documents == 9 and result.merged.tokens == N_TOKENS
    names, pairs, labels = read_counts(tmp_path / "idx")
    assert (names, pairs) == by_hash(GOLDEN_NAMES, GOLDEN_PAIRS_W10)
    assert {n.lower(): lab for n, lab in labels.items()} == {
        n.lower(): GOLDEN_LABELS.get(n, "NAME") for n in GOLDEN_NAMES}


def test_golden_counts_whole_document(tmp_path, corpus_files):
    build([corpus_files["parquet"]], tmp_path / "idx", window=WINDOW_DOC)
    names, pairs, _ = read_counts(tmp_path / "idx")
    assert (names, pairs) == by_hash(GOLDEN_NAMES, GOLDEN_PAIRS_DOC)
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["config"]["window"] == "doc"


def test_display_names_and_lookups(golden_index):
    idx = Index.open(golden_index)
    _, _, labels = read_counts(golden_index)
    assert set(labels) == set(GOLDEN_NAMES)  # one shard: each name as first written ("Paris", not "PARIS")
    assert idx.n_names == len(GOLDEN_NAMES) and idx.documents == 9 and idx.window == 10
    for name, (docs, mentions) in GOLDEN_NAMES.items():
        e = idx.entity(name)
        assert (e.name, e.docs, e.mentions, e.label) == (name, docs, mentions, GOLDEN_LABELS.get(name, "NAME"))
        assert idx.entity_by_id(e.id) == e
    # a name is its folded tokens: any case, a possessive, a leading "the"
    assert idx.entity("PARIS").id == idx.entity("paris").id == idx.entity("Paris's").id == idx.entity("Paris").id
    assert idx.entity("The Beatles").name == "Beatles"
    assert idx.entity("the Treaty of Paris").name == "Treaty of Paris"
    # what the corpus never writes as a name: absent (no gazetteer: MSFT opens a sentence, "Nothing" too)
    assert idx.entity("MSFT") is None and idx.entity("Nothing") is None and idx.entity("London") is None
    assert idx.entity("Treaty of") is None and idx.entity("of Paris") is None
    pf = idx.pair(idx.entity("Paris").id, idx.entity("France").id)
    assert (pf.docs, pf.source) == (2, "exact")
    assert idx.pair(idx.entity("Seattle").id, idx.entity("Paris").id).docs == 0  # 25 apart in d3
    assert idx.pair(idx.entity("Treaty").id, idx.entity("1783").id).docs == 0  # an inner name does not pair


def test_gazetteer_golden_counts_window_and_whole_document(tmp_path, corpus_files, gazetteer, gazetteer_index):
    names, pairs, _ = read_counts(gazetteer_index)
    assert (names, pairs) == by_hash(GAZ_NAMES, GAZ_PAIRS_W10)
    build([corpus_files["jsonl.gz"]], tmp_path / "doc", gazetteer, window=WINDOW_DOC)
    names, pairs, _ = read_counts(tmp_path / "doc")
    assert (names, pairs) == by_hash(GAZ_NAMES, GAZ_PAIRS_DOC)
    m = json.loads((gazetteer_index / "manifest.json").read_text())
    assert m["counts"]["names"] == 12 and m["counts"]["aliases"] == 3  # William H. Gates, MSFT, Microsoft Corporation
    assert m["config"]["names"]["rules"] is True and m["config"]["names"]["gazetteer"]


def test_gazetteer_aliases_and_lowercase(gazetteer_index):
    idx = Index.open(gazetteer_index)
    micro = idx.entity("Microsoft")
    assert (micro.name, micro.docs, micro.mentions) == ("Microsoft", 2, 3)
    for alias in ("MSFT", "msft", "Microsoft Corporation", "microsoft corporation's"):
        assert idx.entity(alias).id == micro.id, alias
    assert idx.entity("William H. Gates").id == idx.entity("Bill Gates").id  # an alias the corpus never writes
    assert idx.entity("Paris").docs == 5  # lowercase "paris" in d5 counts through the gazetteer
    assert idx.entity("Microsoft Corporation").name == "Microsoft"  # no separate name for an alias


def test_gazetteer_labels_and_display_names(tmp_path, gazetteer, gazetteer_index):
    _, _, labels = read_counts(gazetteer_index)
    assert labels == {n: GAZ_LABELS.get(n, "NAME") for n in GAZ_NAMES}
    # a corpus that writes only an alias the rule also finds: the name is still the canonical one
    docs = write_jsonl(tmp_path / "alias.jsonl", [("a", "We flew to Seattle. It is home to Microsoft Corporation.")])
    build([docs], tmp_path / "idx", gazetteer)
    micro = Index.open(tmp_path / "idx").entity("Microsoft")
    assert (micro.name, micro.label, micro.docs) == ("Microsoft", "ORG", 1)


def test_vocab_counts_only_the_list(tmp_path, corpus_files, gazetteer):
    """--vocab: the gazetteer's names and nothing else (no rule): GAZ_* restricted to the list."""
    listed = {"Paris", "France", "Microsoft", "Bill Gates", "Seattle"}
    for window, golden in ((10, GAZ_PAIRS_W10), (WINDOW_DOC, GAZ_PAIRS_DOC)):
        out = tmp_path / str(window)
        build([corpus_files["jsonl"]], out, window=window, vocab_file=gazetteer)
        names, pairs, _ = read_counts(out)
        # d8's Paris is a gazetteer match here, not an inner name, but d8 holds no other listed name
        assert (names, pairs) == by_hash({n: v for n, v in GAZ_NAMES.items() if n in listed},
                                         {k: v for k, v in golden.items() if k <= listed})
        assert json.loads((out / "manifest.json").read_text())["config"]["names"]["rules"] is False
    with pytest.raises(CoocError, match="either --gazetteer"):
        build([corpus_files["jsonl"]], tmp_path / "both", gazetteer, vocab_file=gazetteer)


def test_no_inner_names(tmp_path, corpus_files):
    build([corpus_files["jsonl"]], tmp_path / "idx", inner=False)
    names, pairs, _ = read_counts(tmp_path / "idx")
    golden = dict(GOLDEN_NAMES, Paris=(3, 3))  # d8's Paris was inner
    del golden["Treaty"]
    assert (names, pairs) == by_hash(golden, GOLDEN_PAIRS_W10)  # inner names never paired anyway
    docs, mentions, ref_pairs = baseline.count([t for _, t in DOCS], 10, inner=False)
    assert {h: (docs[h], mentions[h]) for h in docs} == names
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["config"]["names"]["inner"] is False


def test_formats_give_identical_index_files(tmp_path, corpus_files):
    arrays = []
    for fmt in ("jsonl", "jsonl.zst", "parquet", "txt"):
        out = tmp_path / fmt
        build([corpus_files[fmt]], out)
        arrays.append([np.load(out / f) for f in ARRAYS])
    for other in arrays[1:]:
        for f, x, y in zip(ARRAYS, arrays[0], other, strict=True):
            assert np.array_equal(x, y), f


def test_manifest(golden_index):
    m = json.loads((golden_index / "manifest.json").read_text())
    assert m["format"] == "cooc-index" and m["format_version"] == 2
    assert m["corpus"]["documents"] == 9 and m["corpus"]["tokens"] == N_TOKENS and m["corpus"]["skipped_total"] == 0
    assert {k: m["counts"][k] for k in ("names", "common_words", "aliases", "pairs", "pairs_kept", "hash_collisions")} \
        == {"names": 13, "common_words": 0, "aliases": 0, "pairs": 16, "pairs_kept": 16, "hash_collisions": 0}
    names = m["config"]["names"]
    assert (names["rules"], names["inner"], names["gazetteer"]) == (True, True, None)
    assert names["max_tokens"] == 3  # "Treaty of Paris", "Infinity on High"
    assert sorted(m["labels"]) == ["NAME", "NUMBER", "TITLE"]


def test_common_words_are_kept_flagged_and_left_out_of_pairs(tmp_path):
    docs = tmp_path / "film.jsonl"
    write_jsonl(docs, [
        ("a", "Best Film went to a film made in Paris."),  # Best Film@0 (two words), Paris@8; "film" lowercase
        ("b", "A film about a film."),  # "A" opens the sentence; "film" lowercase twice
        ("c", "They called Film art in Paris."),  # Film@2, Paris@5
    ])
    build([docs], tmp_path / "idx")
    idx = Index.open(tmp_path / "idx")
    film = idx.entity("Film")
    # "Film" is a name once and a lowercase word 3 times: a common word, kept with its counts
    assert (film.docs, film.mentions, film.lowercase_uses, film.common) == (1, 1, 3, True)
    assert idx.entity("Best Film").docs == 1 and not idx.entity("Best Film").common
    paris = idx.entity("Paris")
    assert (paris.docs, paris.common, paris.lowercase_uses) == (2, False, 0)
    # Film-Paris (doc c) is dropped; Best Film-Paris (doc a, 8 apart) is kept
    assert idx.pair(film.id, paris.id).docs == 0 and idx.pair(idx.entity("Best Film").id, paris.id).docs == 1
    m = idx.manifest["counts"]
    assert (m["names"], m["common_words"], m["pairs"]) == (3, 1, 1)
    assert idx.sql("SELECT name FROM names WHERE common_word") == [("Film",)]


def test_an_index_of_format_1_asks_for_a_rebuild(tmp_path, golden_index):
    from cooc.indexer.verify import verify_index

    old = tmp_path / "old"
    shutil.copytree(golden_index, old, symlinks=True)
    m = json.loads((old / "manifest.json").read_text())
    m["format_version"] = 1
    (old / "manifest.json").write_text(json.dumps(m))
    for open_ in (Index.open, verify_index):
        with pytest.raises(IndexFormatError, match=r"format v1 .*rebuild it with `cooc build") as exc:
            open_(old)
        assert "\n" not in str(exc.value)
    m["format_version"] = 3
    (old / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="newer than this cooc supports"):
        Index.open(old)


def test_existing_index_needs_force_and_non_index_dir_is_refused(tmp_path, corpus_files):
    out = tmp_path / "idx"
    build([corpus_files["jsonl"]], out)
    with pytest.raises(CoocError, match="--force"):
        build([corpus_files["jsonl"]], out)
    build([corpus_files["jsonl"]], out, force=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("mine")
    with pytest.raises(CoocError, match="not a cooc index"):
        build([corpus_files["jsonl"]], other, force=True)
    assert (other / "readme.txt").read_text() == "mine"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".lock"]  # no staging dirs left
    assert not (other / ".lock").exists()
    with pytest.raises(CoocError, match="at least 16"):
        build([corpus_files["jsonl"]], tmp_path / "small", memory_mb=8)


def test_a_second_writer_into_the_same_directory_is_refused(tmp_path, corpus_files):
    from cooc.indexer.lock import DirectoryLock
    from cooc.indexer.merge import MergeOptions, merge

    out = tmp_path / "idx"
    build([corpus_files["jsonl"]], out)
    with DirectoryLock(out):  # as if another build or merge were running there
        with pytest.raises(CoocError, match="another cooc process .* is writing here"):
            build([corpus_files["jsonl"]], out, force=True)
        with pytest.raises(CoocError, match="another cooc process"):
            merge([out], out, MergeOptions(sketch_mb=1), force=True)
        build([corpus_files["jsonl"]], tmp_path / "other")  # a different directory is fine
    build([corpus_files["jsonl"]], out, force=True)  # the lock is gone with its holder


def test_rank_builds_share_the_directory_but_not_with_a_merge(tmp_path):
    from cooc.indexer.lock import DirectoryLock

    with DirectoryLock(tmp_path, shared=True), DirectoryLock(tmp_path, shared=True):  # two ranks side by side
        with pytest.raises(CoocError, match="another cooc process"):
            DirectoryLock(tmp_path).__enter__()  # a publishing build or merge must wait
    with DirectoryLock(tmp_path):
        with pytest.raises(CoocError, match="another cooc process"):
            DirectoryLock(tmp_path, shared=True).__enter__()


def test_gazetteer_file_errors_are_one_line(tmp_path, corpus_files):
    from cooc.indexer.gazetteer import read_gazetteer

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "Paris"}\n{"aliases": ["x"]}\n')
    with pytest.raises(CoocError, match=r"bad\.jsonl:2: expected a JSON object with 'name'"):
        build([corpus_files["jsonl"]], tmp_path / "idx", bad)
    with pytest.raises(CoocError, match="no such gazetteer file"):
        build([corpus_files["jsonl"]], tmp_path / "idx2", tmp_path / "missing.tsv")
    tsv = tmp_path / "g.tsv"
    tsv.write_text(GAZETTEER)
    entries = read_gazetteer(tsv)
    assert [e.name for e in entries] == ["Paris", "France", "Microsoft", "Bill Gates", "Seattle"]
    assert entries[2].aliases == ("Microsoft Corporation", "MSFT") and entries[2].label == "ORG"


def test_a_longer_name_is_never_looked_up_as_a_shorter_one(tmp_path):
    docs = tmp_path / "dixon.jsonl"
    write_jsonl(docs, [("a", "a novel by Thomas Dixon Jr. in 1905"), ("b", "we met Thomas there")])
    build([docs], tmp_path / "idx")
    idx = Index.open(tmp_path / "idx")
    dixon = idx.entity("Thomas Dixon Jr.")
    assert (dixon.name, dixon.docs) == ("Thomas Dixon Jr", 1)
    assert idx.entity("thomas dixon jr").id == dixon.id
    # its inner names (two words or more) count on their own; "Thomas" alone is only document b
    assert idx.entity("Thomas Dixon").docs == 1 and idx.entity("Dixon Jr").docs == 1
    assert (idx.entity("Thomas").name, idx.entity("Thomas").docs) == ("Thomas", 1)
    assert idx.entity("Dixon") is None and idx.entity("Jr") is None
    assert idx.docs("Thomas Dixon Jr.") == 1 and idx.docs("Thomas Dixon Sr.") == 0


@pytest.mark.slow
def test_the_counting_processes_do_not_load_duckdb():
    """The CLI and the build import DuckDB only once the merge connects: the forked counting workers then never
    map it (~18 MiB of the build's peak memory)."""
    code = ("import sys; import cooc.cli.main, cooc.indexer.build, cooc.indexer.merge, cooc.indexer.buckets; "
            "assert 'duckdb' not in sys.modules, 'duckdb imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_a_build_makes_pyarrow_allocate_with_malloc(tmp_path, corpus_files):
    """pyarrow's jemalloc pool keeps freed pages; a build switches it to the system allocator (whose mmap
    threshold it fixes, so large blocks are unmapped when freed). In a fresh interpreter: this process's pool
    may already have been switched by another test's build."""
    out = build_in_fresh_process(corpus_files["jsonl"], tmp_path / "idx",
                                 "import pyarrow as pa; before = pa.default_memory_pool().backend_name",
                                 "before, pa.default_memory_pool().backend_name")
    before, after = out.split()
    assert before != "system" and after == "system"
