"""cooc.indexer: read corpus shards, find every name, count names and pairs, store the index.

Importing a submodule (`cooc.indexer.names`, the scorer's `cooc.indexer.layout`) does not load
the build machinery (pyarrow, duckdb, process pools): the names below load on first use (PEP 562).
"""

from __future__ import annotations

from .lazy import lazy_front

#: public name -> (module, name there); `merge_index` is named apart from its module (`cooc.indexer.merge`),
#: which a submodule import would otherwise shadow
_HOME = {
    "BuildConfig": ("build", "BuildConfig"), "BuildResult": ("build", "BuildResult"),
    "build_index": ("build", "build_index"), "format_build": ("build", "format_build"),
    "parse_window": ("build", "parse_window"),
    "WINDOW_DOC": ("count", "WINDOW_DOC"), "DEDUP_MODES": ("dedup", "DEDUP_MODES"),
    "CoocError": ("errors", "CoocError"), "IndexFormatError": ("errors", "IndexFormatError"),
    "ReadError": ("errors", "ReadError"),
    "MergeOptions": ("merge", "MergeOptions"), "MergeResult": ("merge", "MergeResult"),
    "format_merge": ("merge", "format_merge"), "merge_index": ("merge", "merge"),
    "normalize_key": ("normalize", "normalize_key"), "normalize_text": ("normalize", "normalize_text"),
    "ReadOptions": ("read", "ReadOptions"),
    "LocalRunner": ("runner", "LocalRunner"), "RayRunner": ("runner", "RayRunner"), "Runner": ("runner", "Runner"),
    "default_processes": ("runner", "default_processes"), "make_runner": ("runner", "make_runner"),
    "VocabConfig": ("vocab", "VocabConfig"), "make_vocabulary": ("vocab", "make_vocabulary"),
}
__all__ = sorted(_HOME)

__getattr__, __dir__ = lazy_front(__name__, _HOME)
