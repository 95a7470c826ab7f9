"""Every DuckDB connection cooc opens: no progress bar on stdout.

DuckDB prints a progress bar to stdout for queries over ~2 s even when stdout is a pipe, which
would corrupt `--json` output and anything a user pipes `cooc` into.

DuckDB is imported on first use: a build's counting processes never need it (~18 MiB each).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

__all__ = ["connect", "write_errors"]


def connect(path: Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(str(path) if path is not None else ":memory:", read_only=read_only)
    con.execute("SET enable_progress_bar = false")
    return con


def write_errors() -> tuple[type[BaseException], ...]:
    """What a failed write raises (disk full): for `except write_errors():`, evaluated only once an
    exception is raised, so DuckDB is not imported for it."""
    import duckdb

    return (OSError, duckdb.Error)
