"""`cooc score-batch`: score every row of a JSONL or Parquet file, write risk and features.

Rows are scored in batches with `Scorer.score_many` (two matcher calls and one vectorized
pair lookup per batch, no query per row). The output keeps every input field and adds
`risk`, `confidence`, `reason`, `flags` and the feature columns (features.FEATURES), as
Parquet, JSONL or CSV by the output's suffix, written to a temporary name and renamed when
complete. `score_stream` scores JSONL rows as they arrive (`cooc score -`), one report per row.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from cooc.indexer.atomic import atomic_path
from cooc.indexer.errors import CoocError
from cooc.indexer.read import file_format, open_binary

from .features import FEATURES
from .index import Index
from .options import DEFAULT_BATCH_ROWS, OUTPUT_SUFFIXES
from .scorer import RiskReport, Scorer, format_report


@dataclass
class BatchResult:
    rows: int
    seconds: float
    output: Path

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def iter_rows(path: Path, batch_size: int = DEFAULT_BATCH_ROWS) -> Iterator[list[dict]]:
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


def _text(row: dict, field: str | None, where: str, role: str, optional: bool = False) -> str | None:
    """The row's question or answer; a missing field is an error (a null answer is no answer)."""
    if field is None or (optional and field not in row):
        return None
    value = row.get(field)
    if isinstance(value, str) or (value is None and role == "answer" and field in row):
        return value
    keys = ", ".join(sorted(map(str, row))[:20]) or "(none)"  # only on the error path: rows are many
    if field not in row:
        hint = ", or --answer-field '' to score questions only" if role == "answer" else ""
        raise CoocError(f"{where}: no field '{field}'; keys found: {keys} (use --{role}-field{hint})")
    raise CoocError(f"{where}: field '{field}' is not text ({type(value).__name__}); keys found: {keys}")


def feature_row(report: RiskReport) -> dict:
    return {
        "risk": report.risk,
        "confidence": report.confidence,
        "reason": report.reason,
        "flags": ",".join(report.flags),
        **{f"f_{k}": report.features[k] for k in FEATURES},
    }


def score_rows(scorer: Scorer, rows: list[dict], question_field: str, answer_field: str | None,
               where: str, first_row: int = 1, answer_optional: bool = False) -> list[RiskReport]:
    """Score rows together; `where` and the row numbers name a bad row. answer_optional: a row may omit it."""
    questions = [_text(r, question_field, f"{where} row {i}", "question") for i, r in enumerate(rows, start=first_row)]
    answers = [_text(r, answer_field, f"{where} row {i}", "answer", answer_optional)
               for i, r in enumerate(rows, start=first_row)]
    return scorer.score_many(questions, answers)


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return v


class _CsvOut:
    """CSV rows with the first batch's columns; a later row with another field is an error, not a silent drop."""

    def __init__(self, fh):
        self.text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        self.writer: csv.DictWriter | None = None

    def write(self, rows: list[dict], where: str, first_row: int) -> None:
        if self.writer is None:
            self.writer = csv.DictWriter(self.text, list(dict.fromkeys(k for r in rows for k in r)), restval="")
            self.writer.writeheader()
        for i, r in enumerate(rows, start=first_row):
            extra = set(r) - set(self.writer.fieldnames)
            if extra:
                raise CoocError(f"{where} row {i}: field(s) {', '.join(sorted(map(str, extra)))} not in the first "
                                f"{first_row - 1:,} rows: CSV has one header; write .jsonl or .parquet instead")
            self.writer.writerow({k: _csv_value(v) for k, v in r.items()})

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class _JsonlOut:
    def __init__(self, fh):
        self.fh = fh

    def write(self, rows: list[dict], where: str, first_row: int) -> None:
        self.fh.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))

    def close(self) -> None:
        pass


class _ParquetOut:
    """One row group per batch, cast to the first batch's schema; no rows is still a valid file."""

    def __init__(self, fh):
        self.fh = fh
        self.writer: pq.ParquetWriter | None = None

    def write(self, rows: list[dict], where: str, first_row: int) -> None:
        table = pa.Table.from_pylist(rows)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.fh, table.schema, compression="zstd")
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        else:
            pq.write_table(pa.table({"risk": pa.array([], pa.float64())}), self.fh)


_WRITERS = {".parquet": _ParquetOut, ".jsonl": _JsonlOut, ".csv": _CsvOut}


def _row_count(path: Path) -> int | None:
    """Rows of a Parquet file from its footer (for the progress bar's ETA); None for JSONL."""
    try:
        return pq.ParquetFile(path).metadata.num_rows if Path(path).suffix == ".parquet" else None
    except (pa.ArrowException, OSError):
        return None  # iter_rows says what is wrong with it


def score_batch(index_path: Path, input_path: Path, output: Path, question_field: str = "question",
                answer_field: str | None = "answer", policy: str = "graded", batch_size: int = DEFAULT_BATCH_ROWS,
                progress: bool = False) -> BatchResult:
    """Score every row of a file into `output` (.parquet, .jsonl or .csv), which appears only when complete."""
    output = Path(output)
    kind = next((s for s in OUTPUT_SUFFIXES if output.name.endswith(s)), None)
    if kind is None:
        raise CoocError(f"{output}: output must end in {', '.join(OUTPUT_SUFFIXES)}")
    scorer = Scorer(Index.open(index_path), policy)
    t0 = time.perf_counter()
    n = 0
    bar = tqdm(total=_row_count(input_path), unit=" rows", desc="scoring", disable=not progress, dynamic_ncols=True,
               delay=1.0)
    try:
        with atomic_path(output) as tmp, open(tmp, "wb") as fh:
            out = _WRITERS[kind](fh)
            try:
                for rows in iter_rows(input_path, batch_size):
                    reports = score_rows(scorer, rows, question_field, answer_field, str(input_path), n + 1)
                    out.write([{**r, **feature_row(rep)} for r, rep in zip(rows, reports, strict=True)],
                              str(input_path), n + 1)
                    n += len(rows)
                    bar.update(len(rows))
            finally:  # also on an error: a writer must not outlive its file (the temporary file is removed)
                out.close()
    finally:
        bar.close()
    return BatchResult(n, time.perf_counter() - t0, output)


def available_lines(fd: int, chunk: int = 1 << 16) -> Iterator[list[bytes]]:
    """The complete lines of a stream in the groups they arrive in: each read returns what is there
    now (never waits to fill a buffer), so a caller sending one row gets its answer at once, and a
    pipe full of rows is scored many rows per batch."""
    rest = b""
    while data := os.read(fd, chunk):
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        if lines:
            yield lines
    if rest.strip():
        yield [rest]


def score_stream(scorer: Scorer, batches: Iterable[list[bytes | str]], out: TextIO,
                 question_field: str = "question", answer_field: str | None = "answer", as_json: bool = False,
                 where: str = "<stdin>") -> int:
    """Score groups of JSONL rows as they arrive (a row may omit the answer); returns the rows scored.

    Each group's reports (JSON lines, or text reports each followed by a blank line) are written
    before the next group is read, so a caller can hold one process open and talk to it row by row.
    """
    n = lineno = 0
    for lines in batches:
        rows, first = [], lineno + 1
        for line in lines:
            lineno += 1
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise CoocError(f"{where}:{lineno}: not valid JSON; send one JSON object per line, e.g. "
                                '{"question": "...", "answer": "..."}') from None
            if not isinstance(row, dict):
                raise CoocError(f"{where}:{lineno}: expected a JSON object with '{question_field}'")
            rows.append(row)
        if not rows:
            continue
        reports = score_rows(scorer, rows, question_field, answer_field, where, first, answer_optional=True)
        if as_json:
            out.write(b"".join(orjson.dumps(r) + b"\n" for r in reports).decode())
        else:
            out.write("".join(format_report(r) + "\n\n" for r in reports))
        out.flush()
        n += len(rows)
    return n
