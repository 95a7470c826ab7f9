"""Golden counts (worked out by hand in conftest.py) and format equivalence."""

import json

import duckdb
import numpy as np
import pytest

from cooc.indexer.count import WINDOW_DOC
from cooc.indexer.errors import CoocError
from cooc.indexer.vocab import Vocabulary
from tests.conftest import GOLDEN_ENTITIES, GOLDEN_PAIRS_DOC, GOLDEN_PAIRS_W10, build


def read_counts(index_dir):
    con = duckdb.connect(str(index_dir / "index.duckdb"), read_only=True)
    try:
        ents = {name: (d, m) for name, d, m in con.execute("SELECT name, docs, mentions FROM entities").fetchall()}
        pairs = {
            frozenset({a, b}): d
            for a, b, d in con.execute(
                "SELECT ea.name, eb.name, p.docs FROM pairs p JOIN entities ea ON ea.id = p.a JOIN entities eb ON eb.id = p.b"
            ).fetchall()
        }
        ordered = con.execute("SELECT bool_and(a < b), count(*) FROM pairs").fetchone()
        keys = [k for (k,) in con.execute("SELECT key FROM pairs").fetchall()]
    finally:
        con.close()
    assert ordered[0] in (True, None)
    assert keys == sorted(keys)
    return ents, pairs


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "txt"])
def test_golden_counts_window_every_format(tmp_path, corpus_files, gazetteer, fmt):
    result = build([corpus_files[fmt]], tmp_path / "idx", gazetteer, window=10)
    assert result.merged.documents == 7
    ents, pairs = read_counts(tmp_path / "idx")
    assert ents == GOLDEN_ENTITIES
    assert pairs == GOLDEN_PAIRS_W10


def test_golden_counts_whole_document(tmp_path, corpus_files, gazetteer):
    build([corpus_files["parquet"]], tmp_path / "idx", gazetteer, window=WINDOW_DOC)
    ents, pairs = read_counts(tmp_path / "idx")
    assert ents == GOLDEN_ENTITIES
    assert pairs == GOLDEN_PAIRS_DOC
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["config"]["window"] == "doc"


def test_formats_give_identical_index_files(tmp_path, corpus_files, gazetteer):
    arrays = []
    for fmt in ("jsonl", "jsonl.zst", "parquet", "txt"):
        out = tmp_path / fmt
        build([corpus_files[fmt]], out, gazetteer)
        arrays.append([np.load(out / f) for f in ("pairs.keys.npy", "pairs.docs.npy", "entities.docs.npy")])
    for other in arrays[1:]:
        for x, y in zip(arrays[0], other, strict=True):
            assert np.array_equal(x, y)


def test_manifest_and_vocab_file(golden_index):
    m = json.loads((golden_index / "manifest.json").read_text())
    assert m["format"] == "cooc-index" and m["format_version"] == 1
    assert m["corpus"]["documents"] == 7 and m["corpus"]["skipped_total"] == 0
    assert {k: m["counts"][k] for k in ("entities", "entities_seen", "pairs", "pairs_kept")} == {
        "entities": 5, "entities_seen": 5, "pairs": 4, "pairs_kept": 4}
    vocab = Vocabulary.load(golden_index / "vocab.jsonl")
    micro = next(e for e in vocab.entities if e.name == "Microsoft")
    assert set(micro.aliases) == {"microsoft corporation", "msft"}
    assert m["config"]["vocabulary"]["fingerprint"] == vocab.fingerprint()


def test_build_with_saved_vocabulary_reproduces_index(tmp_path, corpus_files, golden_index):
    from cooc.indexer.build import BuildConfig, build_index

    build_index(BuildConfig([str(corpus_files["jsonl.gz"])], tmp_path / "again", vocab_file=golden_index / "vocab.jsonl",
                            window=10, progress=False))
    for f in ("pairs.keys.npy", "pairs.docs.npy", "entities.docs.npy", "entities.mentions.npy"):
        assert np.array_equal(np.load(golden_index / f), np.load(tmp_path / "again" / f))


def test_existing_index_needs_force_and_non_index_dir_is_refused(tmp_path, corpus_files, gazetteer):
    out = tmp_path / "idx"
    build([corpus_files["jsonl"]], out, gazetteer)
    with pytest.raises(CoocError, match="--force"):
        build([corpus_files["jsonl"]], out, gazetteer)
    build([corpus_files["jsonl"]], out, gazetteer, force=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("mine")
    with pytest.raises(CoocError, match="not a cooc index"):
        build([corpus_files["jsonl"]], other, gazetteer, force=True)
    assert (other / "readme.txt").read_text() == "mine"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".lock"]  # no staging dirs left
    assert not (other / ".lock").exists()


def test_ner_discovery_with_real_spacy_model(tmp_path):
    from cooc.indexer.build import BuildConfig, build_index
    from cooc.indexer.vocab import VocabConfig

    docs = tmp_path / "news.jsonl"
    texts = [
        "Microsoft was founded by Bill Gates in Albuquerque.",
        "Bill Gates later moved Microsoft to Redmond, Washington.",
        "Angela Merkel met Emmanuel Macron in Berlin.",
        "Emmanuel Macron returned to Paris after meeting Angela Merkel.",
    ]
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    build_index(BuildConfig([str(docs)], tmp_path / "idx", vocab=VocabConfig(min_count=2, processes=1), progress=False))
    vocab = {e.key: e for e in Vocabulary.load(tmp_path / "idx" / "vocab.jsonl").entities}
    assert {"microsoft", "bill gates", "emmanuel macron", "angela merkel"} <= set(vocab)
    assert vocab["bill gates"].label == "PERSON"
    assert "paris" not in vocab  # one NER mention < --min-count 2


def test_rule_vocabulary_keeps_recurring_names_and_drops_capitalized_common_words(tmp_path):
    from cooc.indexer.build import BuildConfig, build_index
    from cooc.indexer.vocab import VocabConfig

    docs = tmp_path / "docs.jsonl"
    texts = [
        "Best Film went to a film made in Paris by Agnes Varda.",  # "Film" capitalized once ...
        "The film was shown in Paris. A film about a film. They called Film art.",  # "film" lowercase 4 times
        "Critics in Paris praised Agnes Varda in 1962. Somebody Once said so.",
        "Nothing capitalized here except this Lonely word, from 1962.",
    ]
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    cfg = BuildConfig([str(docs)], tmp_path / "idx", vocab=VocabConfig(ner=False, rules=True, rules_min_count=2),
                      progress=False)
    build_index(cfg)
    vocab = Vocabulary.load(tmp_path / "idx" / "vocab.jsonl")
    assert {e.key: e.label for e in vocab.entities} == {"paris": "NAME", "agnes varda": "NAME", "1962": "NUMBER"}
    # "film" is a common word whatever its count: the scorer must not call it an unseen name
    assert vocab.source["rules_dropped_common_words"] == 1 and vocab.common_words == {"film"}
    cfg.vocab.rules_min_count = 1
    cfg.force = True
    build_index(cfg)
    vocab = Vocabulary.load(tmp_path / "idx" / "vocab.jsonl")
    keys = {e.key for e in vocab.entities}
    assert vocab.source["rules_dropped_common_words"] == 1
    # "Film" is a name-like span twice and lowercase four times: not a name; "Varda. Somebody" is cut at
    # the sentence end and "Somebody Once" is all stop words; "Lonely" and "Best Film" are kept
    assert "film" not in keys and keys == {"paris", "agnes varda", "lonely", "best film", "1962"}


def test_a_second_writer_into_the_same_directory_is_refused(tmp_path, corpus_files, gazetteer):
    from cooc.indexer.lock import DirectoryLock
    from cooc.indexer.merge import MergeOptions, merge
    from tests.conftest import build

    out = tmp_path / "idx"
    build([corpus_files["jsonl"]], out, gazetteer)
    with DirectoryLock(out):  # as if another build or merge were running there
        with pytest.raises(CoocError, match="another cooc process .* is writing here"):
            build([corpus_files["jsonl"]], out, gazetteer, force=True)
        with pytest.raises(CoocError, match="another cooc process"):
            merge([out], out, MergeOptions(force=True, sketch_mb=1))
        build([corpus_files["jsonl"]], tmp_path / "other", gazetteer)  # a different directory is fine
    build([corpus_files["jsonl"]], out, gazetteer, force=True)  # the lock is gone with its holder


def test_rank_builds_share_the_directory_but_not_with_a_merge(tmp_path):
    from cooc.indexer.lock import DirectoryLock

    with DirectoryLock(tmp_path, shared=True), DirectoryLock(tmp_path, shared=True):  # two ranks side by side
        with pytest.raises(CoocError, match="another cooc process"):
            DirectoryLock(tmp_path).__enter__()  # a publishing build or merge must wait
    with DirectoryLock(tmp_path):
        with pytest.raises(CoocError, match="another cooc process"):
            DirectoryLock(tmp_path, shared=True).__enter__()
