"""cooc.indexer: read corpus shards, find entity mentions, count and store co-occurrences."""

from .build import BuildConfig, BuildResult, build_index
from .errors import CoocError, IndexFormatError, ReadError
from .normalize import normalize_key, normalize_text

__all__ = [
    "BuildConfig", "BuildResult", "CoocError", "IndexFormatError", "ReadError", "build_index",
    "normalize_key", "normalize_text",
]
