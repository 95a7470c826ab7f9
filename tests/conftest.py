"""Tiny real fixtures: the same hand-written documents in every supported format, and golden counts.

Token positions (a token is a run of letters/digits or one punctuation mark), worked out by hand, and
what the default build (no gazetteer: the name rule only) finds at them. "skip" = a single capitalized
word opening a sentence is not a name; "stop" = stop words are trimmed from a name's edges.

d1  "Paris is the capital of France."
        Paris@0 is@1 the@2 capital@3 of@4 France@5 .@6             -> France@5            (Paris@0: skip)
d2  "Bill Gates founded Microsoft Corporation in 1975 and later left Microsoft."
        Bill@0 Gates@1 founded@2 Microsoft@3 Corporation@4 in@5 1975@6 and@7 later@8 left@9 Microsoft@10 .@11
        -> Bill Gates@0 (two words: kept at a sentence start), Microsoft Corporation@3, 1975@6 (number),
           Microsoft@10
d3  "MSFT is based near Seattle, " + 20 words + " far away in Paris."
        MSFT@0 is@1 based@2 near@3 Seattle@4 ,@5 w0..w19@6..25 far@26 away@27 in@28 Paris@29 .@30
        -> Seattle@4, Paris@29                                       (MSFT@0: skip)
d4  "Nothing to see here."                      -> nothing           (Nothing@0: skip)
d5  "paris, france and PARIS, FRANCE"
        paris@0 ,@1 france@2 and@3 PARIS@4 ,@5 FRANCE@6              -> Paris@4, France@6 (lowercase: no name)
d6  "from Seattle" + 9 x + " France"            -> Seattle@1, France@11 (exactly 10 apart)
d7  "from Seattle" + 10 x + " France"           -> Seattle@1, France@12 (11 apart)
d8  "In 1783 the Treaty of Paris ended the war with Britain."
        In@0 1783@1 the@2 Treaty@3 of@4 Paris@5 ended@6 the@7 war@8 with@9 Britain@10 .@11
        -> 1783@1, Treaty of Paris@3 and its inner names Treaty@3, Paris@5, Britain@10   ("In": stop)
           (inner names count for documents and mentions, but pair only where written on their own)
d9  'They played "Infinity on High" with The Beatles in Paris, France.'
        They@0 played@1 "@2 Infinity@3 on@4 High@5 "@6 with@7 The@8 Beatles@9 in@10 Paris@11 ,@12 France@13 .@14
        -> Infinity on High@3 (quoted title), Beatles@9 ("The": stop), Paris@11, France@13  ("They": skip)

Tokens: 7 + 12 + 31 + 5 + 7 + 12 + 13 + 12 + 15 = 114.

With the gazetteer (GAZETTEER below; entries matched in any case, aliases count for their name, a rule
name equal to an alias counts for the canonical name, a gazetteer match on the same tokens as a rule
name is counted once) the build also finds: d1 Paris@0; d3 MSFT@0 as Microsoft; d5 paris@0, france@2;
and d2's "Microsoft Corporation"@3 counts as Microsoft (no name of its own). Everything else is as above
(d8's Paris@5 is still the inner name: it does not pair).

Every number below was worked out by hand from these positions and checked against the pure-Python
reference (`benchmarks.baseline.count`, default build) and a real build (both builds).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"  # the bundled real sample corpus (never /work/shared)

FILLER = " ".join(f"w{i}" for i in range(20))
DOCS = [
    ("d1", "Paris is the capital of France."),
    ("d2", "Bill Gates founded Microsoft Corporation in 1975 and later left Microsoft."),
    ("d3", f"MSFT is based near Seattle, {FILLER} far away in Paris."),
    ("d4", "Nothing to see here."),
    ("d5", "paris, france and PARIS, FRANCE"),
    ("d6", "from Seattle " + " ".join(["x"] * 9) + " France"),
    ("d7", "from Seattle " + " ".join(["x"] * 10) + " France"),
    ("d8", "In 1783 the Treaty of Paris ended the war with Britain."),
    ("d9", 'They played "Infinity on High" with The Beatles in Paris, France.'),
]
N_TOKENS = 114

GAZETTEER = (
    "name\taliases\tlabel\n"
    "Paris\t\tGPE\n"
    "France\t\tGPE\n"
    "Microsoft\tMicrosoft Corporation|MSFT\tORG\n"
    "Bill Gates\tWilliam H. Gates\tPERSON\n"
    "Seattle\t\tGPE\n"
)

# ---- default build (no gazetteer) ----------------------------------------------------------------
# name -> (documents, mentions)
GOLDEN_NAMES = {
    "Paris": (4, 4),  # d3@29, d5@4 (PARIS), d8@5 (inside Treaty of Paris), d9@11; d1@0 opens a sentence
    "France": (5, 5),  # d1, d5 (FRANCE), d6, d7, d9; "france" in d5 is lowercase
    "Seattle": (3, 3),  # d3, d6, d7
    "Bill Gates": (1, 1),  # d2
    "Microsoft Corporation": (1, 1),  # d2@3: without a gazetteer, its own name
    "Microsoft": (1, 1),  # d2@10 (MSFT in d3 opens a sentence)
    "1975": (1, 1),  # d2
    "1783": (1, 1),  # d8
    "Treaty of Paris": (1, 1),  # d8
    "Treaty": (1, 1),  # d8, inner (it pairs with nothing)
    "Britain": (1, 1),  # d8
    "Infinity on High": (1, 1),  # d9, quoted title
    "Beatles": (1, 1),  # d9, "The" trimmed
}
GOLDEN_LABELS = {"1975": "NUMBER", "1783": "NUMBER", "Infinity on High": "TITLE"}  # the rest: NAME
# unordered pair -> documents, window of 10 tokens (mention starts at most 10 apart)
GOLDEN_PAIRS_W10 = {
    frozenset({"Paris", "France"}): 2,  # d5 (2 apart), d9 (2 apart)
    # d2: Bill Gates@0, Microsoft Corporation@3, 1975@6, Microsoft@10: all within 10 (0..10 exactly)
    frozenset({"Bill Gates", "Microsoft Corporation"}): 1,
    frozenset({"Bill Gates", "1975"}): 1,
    frozenset({"Bill Gates", "Microsoft"}): 1,  # exactly 10 apart
    frozenset({"Microsoft Corporation", "1975"}): 1,
    frozenset({"Microsoft Corporation", "Microsoft"}): 1,
    frozenset({"1975", "Microsoft"}): 1,
    frozenset({"Seattle", "France"}): 1,  # d6 (exactly 10 apart); d7 is 11 apart: no
    # d8: 1783@1, Treaty of Paris@3, Britain@10 (at most 9 apart); the inner names Treaty@3 and Paris@5 count
    # for their documents and mentions but do not pair: the longer name is the one that co-occurs
    frozenset({"1783", "Treaty of Paris"}): 1,
    frozenset({"1783", "Britain"}): 1,
    frozenset({"Treaty of Paris", "Britain"}): 1,
    # d9: Infinity on High@3, Beatles@9, Paris@11, France@13 (Paris-France above)
    frozenset({"Infinity on High", "Beatles"}): 1,
    frozenset({"Infinity on High", "Paris"}): 1,
    frozenset({"Infinity on High", "France"}): 1,  # exactly 10 apart
    frozenset({"Beatles", "Paris"}): 1,
    frozenset({"Beatles", "France"}): 1,
    # d3: Seattle@4 - Paris@29 are 25 apart: no
}
# whole-document window: every pair of distinct names in a document
GOLDEN_PAIRS_DOC = {
    **GOLDEN_PAIRS_W10,
    frozenset({"Seattle", "France"}): 2,  # d6 and d7
    frozenset({"Seattle", "Paris"}): 1,  # d3
}

# ---- build with --gazetteer GAZETTEER ------------------------------------------------------------
GAZ_NAMES = {
    "Paris": (5, 6),  # d1@0, d3@29, d5@0 (paris) and @4, d8@5, d9@11
    "France": (5, 6),  # d1@5, d5@2 (france) and @6, d6, d7, d9
    "Microsoft": (2, 3),  # d2@3 (Microsoft Corporation, an alias), d2@10, d3@0 (MSFT, an alias)
    "Seattle": (3, 3),
    "Bill Gates": (1, 1),
    "1975": (1, 1),
    "1783": (1, 1),
    "Treaty of Paris": (1, 1),
    "Treaty": (1, 1),
    "Britain": (1, 1),
    "Infinity on High": (1, 1),
    "Beatles": (1, 1),
}
GAZ_LABELS = {"Paris": "GPE", "France": "GPE", "Microsoft": "ORG", "Seattle": "GPE", "Bill Gates": "PERSON",
              "1975": "NUMBER", "1783": "NUMBER", "Infinity on High": "TITLE"}  # the rest: NAME
GAZ_PAIRS_W10 = {
    frozenset({"Paris", "France"}): 3,  # d1 (5 apart), d5 (2 apart), d9 (2 apart)
    # d2: Bill Gates@0, Microsoft@3, 1975@6, Microsoft@10
    frozenset({"Bill Gates", "Microsoft"}): 1,
    frozenset({"Bill Gates", "1975"}): 1,
    frozenset({"Microsoft", "1975"}): 1,
    frozenset({"Microsoft", "Seattle"}): 1,  # d3: MSFT@0, Seattle@4
    frozenset({"Seattle", "France"}): 1,  # d6
    # d8 and d9 as in the default build
    frozenset({"1783", "Treaty of Paris"}): 1,
    frozenset({"1783", "Britain"}): 1,
    frozenset({"Treaty of Paris", "Britain"}): 1,
    frozenset({"Infinity on High", "Beatles"}): 1,
    frozenset({"Infinity on High", "Paris"}): 1,
    frozenset({"Infinity on High", "France"}): 1,
    frozenset({"Beatles", "Paris"}): 1,
    frozenset({"Beatles", "France"}): 1,
}
GAZ_PAIRS_DOC = {
    **GAZ_PAIRS_W10,
    frozenset({"Seattle", "France"}): 2,  # d6, d7
    frozenset({"Seattle", "Paris"}): 1,  # d3
    frozenset({"Microsoft", "Paris"}): 1,  # d3
}


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, compile (or load) the numba kernels once in the controller before the workers start.

    On a fresh checkout numba's on-disk cache is empty: each worker would compile the same ~60 kernels
    itself (~45 s of CPU each), in parallel and for nothing. Here the counting kernels (the bulk) compile in
    a subprocess while this process compiles the scorer's and the sketch's; then a tiny real build, merge
    and lookup loads them all and compiles the rest, and the workers load the cache (~1.5 s). A serial run
    needs none of it: it compiles lazily, once.
    """
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    import subprocess
    import sys
    import tempfile

    import numpy as np

    from cooc.indexer.merge import MergeOptions
    from cooc.indexer.names import find_batch, key_position
    from cooc.indexer.sketch import CountMinSketch, SketchShape, hll_registers
    from cooc.scorer import Index, Scorer

    counting = subprocess.Popen([sys.executable, "-c", "from cooc.indexer.parts import warm_kernels; warm_kernels()"])
    find_batch(["Is Paris the capital of France?"])
    key_position("Paris", np.zeros(1, np.uint64))
    sketch = CountMinSketch(SketchShape.from_mb(0.01))
    sketch.add(np.arange(3, dtype=np.uint64), np.ones(3, np.int64))
    hll_registers(np.arange(3, dtype=np.uint64))
    if counting.wait():
        raise pytest.UsageError("compiling the counting kernels failed (see above)")
    with tempfile.TemporaryDirectory(prefix="cooc-warm-") as d:
        (Path(d) / "gaz.tsv").write_text(GAZETTEER, encoding="utf-8")
        build([write_jsonl(Path(d) / "docs.jsonl")], Path(d) / "idx", Path(d) / "gaz.tsv",
              merge=MergeOptions(min_pair_docs=2))
        index = Index.open(Path(d) / "idx")
        Scorer(index).score("Is Paris the capital of France?", "Seattle")
        index.docs("Paris")


def write_jsonl(path: Path, docs=DOCS, opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as fh:
        for doc_id, text in docs:
            fh.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    return path


def write_zst(path: Path, docs=DOCS) -> Path:
    data = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    return path


def write_parquet(path: Path, docs=DOCS) -> Path:
    pq.write_table(pa.table({"id": [d[0] for d in docs], "text": [d[1] for d in docs]}), path)
    return path


def write_txt_dir(path: Path, docs=DOCS) -> Path:
    path.mkdir()
    for doc_id, text in docs:
        (path / f"{doc_id}.txt").write_text(text + "\n", encoding="utf-8")
    return path


def sample_texts(name: str, limit: int | None = None) -> list[str]:
    """Documents of a file (or, for "sotu", the directory) of the bundled sample corpus, via the real reader."""
    from cooc.indexer.read import ReadOptions, ReadStats, read_file

    path = SAMPLE / name
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    texts = [t for f in files for b in read_file(f, ReadOptions(), ReadStats()) for t in b.texts]
    return texts[:limit]


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory) -> dict[str, Path]:
    """The golden documents as .jsonl, .jsonl.gz, .jsonl.zst, .parquet and a directory of .txt."""
    d = tmp_path_factory.mktemp("corpus")
    return {
        "jsonl": write_jsonl(d / "docs.jsonl"),
        "jsonl.gz": write_jsonl(d / "docs.jsonl.gz", opener=gzip.open),
        "jsonl.zst": write_zst(d / "docs.jsonl.zst"),
        "parquet": write_parquet(d / "docs.parquet"),
        "txt": write_txt_dir(d / "txt"),
    }


@pytest.fixture(scope="session")
def gazetteer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gaz") / "gazetteer.tsv"
    path.write_text(GAZETTEER, encoding="utf-8")
    return path


def build(inputs, output: Path, gazetteer: Path | None = None, window: int = 10, **kwargs):
    """`cooc build` as a library call: the default build (the name rule), plus a gazetteer when given."""
    from cooc.indexer.build import BuildConfig, build_index

    cfg = BuildConfig(inputs=[str(p) for p in inputs], output=output, gazetteer=gazetteer, window=window,
                      progress=False, **kwargs)
    return build_index(cfg)


@pytest.fixture(scope="session")
def golden_index(tmp_path_factory, corpus_files) -> Path:
    """The default build of the golden documents, window 10 (GOLDEN_NAMES, GOLDEN_PAIRS_W10)."""
    out = tmp_path_factory.mktemp("idx") / "golden"
    build([corpus_files["jsonl"]], out)
    return out


@pytest.fixture(scope="session")
def gazetteer_index(tmp_path_factory, corpus_files, gazetteer) -> Path:
    """The golden documents built with --gazetteer, window 10 (GAZ_NAMES, GAZ_PAIRS_W10)."""
    out = tmp_path_factory.mktemp("idx") / "gazetteer"
    build([corpus_files["jsonl"]], out, gazetteer)
    return out
