"""`cooc score-batch`: score every row of a JSONL or Parquet file, write risk and features.

Rows are scored in batches with `Scorer.score_many` (two matcher calls and one vectorized
pair lookup per batch, no query per row). The output keeps every input field and adds
`risk`, `confidence`, `flags` and the feature columns (features.FEATURES), as Parquet or
JSONL by the output's suffix, written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from cooc.indexer.errors import CoocError
from cooc.indexer.read import file_format, open_binary

from .features import FEATURES
from .index import Index
from .scorer import RiskReport, Scorer


@dataclass
class BatchResult:
    rows: int
    seconds: float
    output: Path

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def iter_rows(path: Path, batch_size: int = 4096) -> Iterator[list[dict]]:
    """Rows of a JSONL (optionally compressed) or Parquet file, in batches; a bad line is an error."""
    path = Path(path)
    if not path.is_file():
        raise CoocError(f"{path}: no such file")
    fmt, compression = file_format(path)
    if fmt == "parquet":
        try:
            for rb in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
                yield rb.to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise CoocError(f"{path}: not a readable Parquet file ({exc})") from None
        return
    if fmt != "jsonl":
        raise CoocError(f"{path}: score-batch reads .jsonl or .parquet")
    batch: list[dict] = []
    with open_binary(path, compression) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise CoocError(f"{path}:{lineno}: not valid JSON; fix or remove the line") from None
            if not isinstance(row, dict):
                raise CoocError(f"{path}:{lineno}: expected a JSON object")
            batch.append(row)
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def _text(row: dict, field: str | None, where: str, required: bool) -> str | None:
    if field is None:
        return None
    value = row.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        keys = ", ".join(sorted(map(str, row))[:20])
        raise CoocError(f"{where}: field '{field}' is missing or not text; keys found: {keys}")
    return value


def feature_row(report: RiskReport) -> dict:
    return {
        "risk": report.risk,
        "confidence": report.confidence,
        "flags": ",".join(report.flags),
        **{f"f_{k}": report.features[k] for k in FEATURES},
    }


def score_rows(scorer: Scorer, rows: list[dict], question_field: str, answer_field: str | None,
               where: str) -> list[RiskReport]:
    questions = [_text(r, question_field, f"{where} row {i}", True) for i, r in enumerate(rows, start=1)]
    answers = [_text(r, answer_field, f"{where} row {i}", False) for i, r in enumerate(rows, start=1)]
    return scorer.score_many(questions, answers)


def score_batch(index_path: Path, input_path: Path, output: Path, question_field: str = "question",
                answer_field: str | None = "answer", policy: str = "graded", batch_size: int = 4096) -> BatchResult:
    output = Path(output)
    if not output.name.endswith((".parquet", ".jsonl")):
        raise CoocError(f"{output}: output must end in .parquet or .jsonl")
    scorer = Scorer(Index.open(index_path), policy)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    t0 = time.perf_counter()
    n = 0
    writer = None
    try:
        with open(tmp, "wb") as fh:
            for rows in iter_rows(input_path, batch_size):
                reports = score_rows(scorer, rows, question_field, answer_field, str(input_path))
                out_rows = [{**r, **feature_row(rep)} for r, rep in zip(rows, reports, strict=True)]
                n += len(out_rows)
                if output.name.endswith(".jsonl"):
                    fh.write(b"".join(orjson.dumps(r) + b"\n" for r in out_rows))
                    continue
                table = pa.Table.from_pylist(out_rows)
                if writer is None:
                    writer = pq.ParquetWriter(fh, table.schema, compression="zstd")
                writer.write_table(table.cast(writer.schema))
            if writer is not None:
                writer.close()
            elif output.name.endswith(".parquet"):  # no rows: still a valid (empty) Parquet file
                pq.write_table(pa.table({"risk": pa.array([], pa.float64())}), fh)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BatchResult(n, time.perf_counter() - t0, output)
