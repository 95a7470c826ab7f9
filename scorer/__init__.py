"""cooc.scorer: open an index, look up counts, and score hallucination risk.

The names below load on first use (PEP 562): `import cooc.scorer` costs nothing, so `cooc --help`
and the indexer's commands never import the index reader, the evidence store or the HTTP server.
The choices and defaults the CLI shows come from `options`, which imports nothing heavy.
"""

from __future__ import annotations

from cooc.indexer.lazy import lazy_front

#: public name -> (module, name there); `calibrate_index` and `serve_index` are named apart from their
#: modules (`cooc.scorer.calibrate`, `cooc.scorer.serve`), which a submodule import would otherwise shadow
_HOME = {
    "DEFAULT_BATCH_ROWS": ("options", "DEFAULT_BATCH_ROWS"), "DEFAULT_FOLDS": ("options", "DEFAULT_FOLDS"),
    "Limits": ("options", "Limits"), "OUTPUT_SUFFIXES": ("options", "OUTPUT_SUFFIXES"),
    "POLICIES": ("options", "POLICIES"), "TOP_ORDERS": ("options", "TOP_ORDERS"),
    "FEATURES": ("features", "FEATURES"),
    "EntityCount": ("index", "EntityCount"), "Index": ("index", "Index"), "Neighbour": ("index", "Neighbour"),
    "PairCount": ("index", "PairCount"),
    "EvidenceDoc": ("evidence", "EvidenceDoc"), "EvidenceResult": ("evidence", "EvidenceResult"),
    "format_evidence": ("evidence", "format_evidence"), "format_retrieved": ("evidence", "format_retrieved"),
    "JointOptions": ("joint", "JointOptions"),
    "EntityEvidence": ("scorer", "EntityEvidence"), "PairEvidence": ("scorer", "PairEvidence"),
    "RiskReport": ("scorer", "RiskReport"), "Scorer": ("scorer", "Scorer"), "format_report": ("scorer", "format_report"),
    "BatchResult": ("batch", "BatchResult"), "available_lines": ("batch", "available_lines"),
    "score_batch": ("batch", "score_batch"), "score_stream": ("batch", "score_stream"),
    "CalibrationModel": ("model", "CalibrationModel"), "calibrate_index": ("calibrate", "calibrate"),
    "create_app": ("serve", "create_app"), "serve_index": ("serve", "serve"),
    "format_demo": ("demo", "format_demo"), "run_demo": ("demo", "run_demo"),
    "format_lookup": ("show", "format_lookup"), "format_score": ("show", "format_score"),
    "format_stats": ("show", "format_stats"), "format_top": ("show", "format_top"),
    "lookup_report": ("show", "lookup_report"), "score_report": ("show", "score_report"),
    "stats_report": ("show", "stats_report"), "top_report": ("show", "top_report"),
    "unknown_names": ("show", "unknown_names"),
}
__all__ = sorted(_HOME)

__getattr__, __dir__ = lazy_front(__name__, _HOME)
