"""Fixtures of the scorer tests: real indexes of tests/scorer/corpus.py, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scorer.corpus import ALIAS_DOCS, DOCS, GAZETTEER, build, write_docs


@pytest.fixture(scope="session")
def scorer_docs(tmp_path_factory) -> Path:
    return write_docs(tmp_path_factory.mktemp("scorer-corpus") / "docs.jsonl")


@pytest.fixture(scope="session")
def scorer_index_dir(tmp_path_factory, scorer_docs) -> Path:
    """The default build (every name the text writes, no vocabulary), window 10."""
    return build(scorer_docs, tmp_path_factory.mktemp("scorer-idx") / "w10")


@pytest.fixture(scope="session")
def alias_index_dir(tmp_path_factory) -> Path:
    """The default build plus a gazetteer with aliases, over the corpus and two documents writing the aliases."""
    d = tmp_path_factory.mktemp("alias-idx")
    (d / "gaz.tsv").write_text(GAZETTEER, encoding="utf-8")
    return build(write_docs(d / "docs.jsonl", DOCS + ALIAS_DOCS), d / "idx", gazetteer=d / "gaz.tsv")
