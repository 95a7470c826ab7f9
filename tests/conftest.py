"""Tiny real fixtures: the same hand-written documents in every supported format.

Token positions (a token is a word or one punctuation mark), worked out by hand:

d1  "Paris is the capital of France."          Paris@0 France@5
d2  "Bill Gates founded Microsoft Corporation in 1975 and later left Microsoft."
                                                Bill Gates@0 Microsoft@3 (alias, 2 tokens) Microsoft@10
d3  "MSFT is based near Seattle, " + 20 words + " far away in Paris."
                                                Microsoft@0 (alias) Seattle@4; "," is token 5, the
                                                20 words are 6..25, far@26 away@27 in@28 Paris@29
d4  "Nothing to see here."                      (no entity)
d5  "paris france PARIS"                        Paris@0 France@1 Paris@2
d6  "Seattle" + 9 words + " France"             Seattle@0 France@10   (distance exactly 10)
d7  "Seattle" + 10 words + " France"            Seattle@0 France@11   (distance 11)
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

FILLER = " ".join(f"w{i}" for i in range(20))
DOCS = [
    ("d1", "Paris is the capital of France."),
    ("d2", "Bill Gates founded Microsoft Corporation in 1975 and later left Microsoft."),
    ("d3", f"MSFT is based near Seattle, {FILLER} far away in Paris."),
    ("d4", "Nothing to see here."),
    ("d5", "paris france PARIS"),
    ("d6", "Seattle " + " ".join(["x"] * 9) + " France"),
    ("d7", "Seattle " + " ".join(["x"] * 10) + " France"),
]

GAZETTEER = (
    "name\taliases\tlabel\n"
    "Paris\t\tGPE\n"
    "France\t\tGPE\n"
    "Microsoft\tMicrosoft Corporation|MSFT\tORG\n"
    "Bill Gates\tWilliam H. Gates\tPERSON\n"
    "Seattle\t\tGPE\n"
)

# entity -> (documents, mentions)
GOLDEN_ENTITIES = {
    "Paris": (3, 4),  # d1, d3, d5 (twice)
    "France": (4, 4),  # d1, d5, d6, d7
    "Microsoft": (2, 3),  # d2 (twice), d3
    "Bill Gates": (1, 1),  # d2
    "Seattle": (3, 3),  # d3, d6, d7
}
# unordered pair -> documents, window of 10 tokens
GOLDEN_PAIRS_W10 = {
    frozenset({"Paris", "France"}): 2,  # d1 (5 apart), d5 (1 apart)
    frozenset({"Bill Gates", "Microsoft"}): 1,  # d2 (3 apart)
    frozenset({"Microsoft", "Seattle"}): 1,  # d3 (4 apart); Seattle-Paris 25 apart: no
    frozenset({"Seattle", "France"}): 1,  # d6 (exactly 10 apart); d7 is 11 apart: no
}
# whole-document window: every pair of distinct entities in a document
GOLDEN_PAIRS_DOC = {
    frozenset({"Paris", "France"}): 2,
    frozenset({"Bill Gates", "Microsoft"}): 1,
    frozenset({"Microsoft", "Seattle"}): 1,
    frozenset({"Microsoft", "Paris"}): 1,  # d3
    frozenset({"Seattle", "Paris"}): 1,  # d3
    frozenset({"Seattle", "France"}): 2,  # d6, d7
}


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


def build(inputs, output: Path, gazetteer: Path, window: int = 10, **kwargs):
    from cooc.indexer.build import BuildConfig, build_index
    from cooc.indexer.vocab import VocabConfig

    cfg = BuildConfig(
        inputs=[str(p) for p in inputs], output=output, vocab=VocabConfig(ner=False, gazetteer=gazetteer),
        window=window, progress=False, **kwargs,
    )
    return build_index(cfg)


@pytest.fixture(scope="session")
def golden_index(tmp_path_factory, corpus_files, gazetteer) -> Path:
    out = tmp_path_factory.mktemp("idx") / "golden"
    build([corpus_files["jsonl"]], out, gazetteer)
    return out
