"""cooc.indexer: read corpus shards, find every name, count names and pairs, store the index.

Importing a submodule (`cooc.indexer.names`, the scorer's `cooc.indexer.layout`) does not load
the build machinery (pyarrow, duckdb, process pools): the names below load on first use.
"""

from __future__ import annotations

from importlib import import_module

__all__ = [
    "BuildConfig", "BuildResult", "CoocError", "IndexFormatError", "ReadError", "build_index",
    "normalize_key", "normalize_text",
]
_HOME = {"BuildConfig": "build", "BuildResult": "build", "build_index": "build", "CoocError": "errors",
         "IndexFormatError": "errors", "ReadError": "errors", "normalize_key": "normalize",
         "normalize_text": "normalize"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
