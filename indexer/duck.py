"""Every DuckDB connection cooc opens: no progress bar on stdout.

DuckDB prints a progress bar to stdout for queries over ~2 s even when stdout is a pipe, which
would corrupt `--json` output and anything a user pipes `cooc` into.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

__all__ = ["connect"]


def connect(path: Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path) if path is not None else ":memory:", read_only=read_only)
    con.execute("SET enable_progress_bar = false")
    return con
