"""Malformed gazetteers (#17.11): a one-line error or a warning naming the row, never a traceback or a
silently dropped entry."""

from __future__ import annotations

import pytest

from cooc.indexer.build import format_build
from cooc.indexer.errors import ReadError
from cooc.indexer.gazetteer import load_gazetteer, read_gazetteer
from tests.conftest import build, write_jsonl


@pytest.mark.parametrize("line, message", [
    ('{"name": "Paris", "aliases": [1, 2]}', r"g.jsonl:2: 'aliases' must be a list of names \(text\), got \[1, 2\]"),
    ('{"aliases": [1, 2]}', "g.jsonl:2: expected a JSON object with 'name'"),
    ('{"name": "Paris", "aliases": {"a": 1}}', "g.jsonl:2: 'aliases' must be a list"),
    ('{"name": 5}', "g.jsonl:2: 'name' must be text, got 5"),
    ('{"name": "Paris", "label": ["GPE"]}', "g.jsonl:2: 'label' must be text"),
    ("[1, 2]", "g.jsonl:2: expected a JSON object"),
])
def test_a_malformed_jsonl_row_is_one_error_naming_it(tmp_path, line, message):
    path = tmp_path / "g.jsonl"
    path.write_text('{"name": "France"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ReadError, match=message):
        read_gazetteer(path)


def test_a_csv_file_named_tsv_is_refused(tmp_path):
    """Once read as entities named 'France,,GPE'."""
    path = tmp_path / "g.tsv"
    path.write_text("name,aliases,label\nFrance,,GPE\nParis,City of Light,GPE\n", encoding="utf-8")
    with pytest.raises(ReadError, match=r"g.tsv:1: no tab in the file but commas .* is it CSV\?"):
        read_gazetteer(path)
    single = tmp_path / "names.tsv"  # one name per line, a comma inside a name: still a gazetteer
    single.write_text("Washington, D.C.\nParis\n", encoding="utf-8")
    assert [e.name for e in read_gazetteer(single)] == ["Washington, D.C.", "Paris"]


def test_an_alias_cycle_warns_with_the_row(tmp_path):
    """Once Paris <-> France silently dropped France."""
    path = tmp_path / "g.tsv"
    path.write_text("Paris\tFrance\tGPE\nFrance\tParis\tGPE\nLyon\tParis\tGPE\n", encoding="utf-8")
    g = load_gazetteer(path)
    assert g.warnings == [
        f"{path}:2: 'France' is already an alias of 'Paris'; this entry is ignored (an alias cycle or a duplicate: "
        "keep one entry per name)",
        f"{path}:3: 'Lyon': alias 'Paris' already names 'Paris'; kept for that one",
    ]
    result = build([write_jsonl(tmp_path / "docs.jsonl")], tmp_path / "idx", gazetteer=path)
    assert f"warning: {path}:2: 'France' is already an alias of 'Paris'" in format_build(result)
