"""What the scorer's commands offer, importable before anything heavy loads.

`cooc --help` and the indexer's commands read these choices and defaults without importing the
index reader, the evidence store or the HTTP server (see the lazy front in `cooc.scorer`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: risk policies (scorer/policy.py): every one gives a risk, higher = more likely hallucinated
POLICIES = ("graded", "quco", "calibrated")
#: orders of `Index.top`: documents together, or NPMI (how exclusively together)
TOP_ORDERS = ("docs", "npmi")
#: output formats of `cooc score-batch`, by file suffix
OUTPUT_SUFFIXES = (".parquet", ".jsonl", ".csv")
#: rows scored together (two matcher calls and one pair search per batch)
DEFAULT_BATCH_ROWS = 4096
#: cross-validation folds of `cooc calibrate`
DEFAULT_FOLDS = 5


@dataclass(kw_only=True)
class Limits:
    """What one `cooc serve` request may cost; past a limit the request gets a JSON error, not the server."""

    max_body_bytes: int = 1 << 20
    max_items: int = 1000
    max_text_chars: int = 20_000
    request_seconds: float = 10.0  # whole request, body upload included
    max_pairs: int = 100_000  # pairs looked up for one request
    max_reply_bytes: int = 32 << 20
    max_in_flight: int = 32  # requests being received or worked on; more get a JSON 503 (/healthz is exempt)
    header_seconds: float = 5.0  # a connection must send a whole request head within this, and idle no longer
