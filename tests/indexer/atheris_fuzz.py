"""Coverage-guided fuzzing (atheris/libFuzzer) of the readers, the normalizer and the matcher.

    python tests/indexer/atheris_fuzz.py -runs=200000      # `make fuzz` runs it like this

Each input picks a file format, becomes a file, and is read to the end: every outcome must be
documents, counted skips, or a one-line ReadError; its text must normalize idempotently and
match without error. Any other exception is a crash that libFuzzer reports with the input.
"""

import sys
import tempfile
from pathlib import Path

import atheris

from cooc.indexer.errors import ReadError
from cooc.indexer.match import Matcher
from cooc.indexer.normalize import normalize_key, normalize_text
from cooc.indexer.read import ReadOptions, ReadStats, read_file

SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".parquet", ".txt")
DIR = tempfile.mkdtemp(prefix="cooc-atheris-")
MATCHER = Matcher([("paris", 0), ("new york", 1), ("é", 2), ("a b c", 3)])


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    suffix = SUFFIXES[fdp.ConsumeIntInRange(0, len(SUFFIXES) - 1)]
    txt_lines = fdp.ConsumeBool()
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    path = Path(DIR) / ("input" + suffix)
    with open(path, "wb") as f:
        f.write(body)
    stats = ReadStats()
    texts = []
    try:
        for batch in read_file(path, ReadOptions(txt_lines=txt_lines, max_doc_bytes=1 << 16), stats):
            texts.extend(batch.texts)
    except ReadError:
        pass
    text = body.decode("utf-8", errors="replace")
    for t in [*texts[:4], text]:
        once = normalize_text(t)
        assert normalize_text(once) == once
        key = normalize_key(t)
        assert normalize_key(key) == key
    if texts or text:
        MATCHER.match_batch([*texts[:4], text])


if __name__ == "__main__":
    MATCHER.match_batch(["warm up: Paris, é, a b c"])  # compile the numba kernels before instrumenting:
    atheris.instrument_all()  # instrumented bytecode is for coverage, numba compiles from the original
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
