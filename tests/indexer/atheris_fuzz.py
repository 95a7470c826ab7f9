"""Coverage-guided fuzzing (atheris/libFuzzer) of the readers, the normalizer and the name kernel.

    python tests/indexer/atheris_fuzz.py -runs=200000      # `make fuzz` runs it like this

Each input picks a file format, becomes a file, and is read to the end: every outcome must be
documents, counted skips, or a one-line ReadError; its text must normalize idempotently, and the
name kernel (`names.find_batch`) must find in it exactly what the Python reference (`spans.mentions`)
finds. Any other exception is a crash that libFuzzer reports with the input.
"""

import inspect
import sys
import tempfile
import types
from pathlib import Path

import atheris

from cooc.indexer.errors import ReadError
from cooc.indexer.names import find_batch
from cooc.indexer.normalize import normalize_key, normalize_text
from cooc.indexer.read import ReadOptions, ReadStats, read_file
from cooc.indexer.spans import mentions

SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".parquet", ".txt")
DIR = tempfile.mkdtemp(prefix="cooc-atheris-")


def instrument_cooc() -> None:
    """Coverage instrumentation of cooc's own Python functions and methods (the readers, the normalizer, the
    reference rule, find_batch's wrapper). Not of numba's jitted kernels: numba compiles from bytecode and
    they are compiled already. (atheris.instrument_all also walks numba, numpy, pyarrow and duckdb: minutes.)"""
    for name, mod in list(sys.modules.items()):
        if not name.startswith("cooc.") or mod is None:
            continue
        for obj in list(vars(mod).values()):
            if getattr(obj, "__module__", None) != name:
                continue
            if isinstance(obj, types.FunctionType):
                atheris.instrument_func(obj)
            elif inspect.isclass(obj):
                for f in vars(obj).values():
                    if isinstance(f, types.FunctionType):
                        atheris.instrument_func(f)


def check_names(texts: list[str], skip: bool) -> None:
    found = find_batch(texts, skip)
    got: list[list] = [[] for _ in texts]
    for d, a, n, h, k in zip(found.doc.tolist(), found.first.tolist(), found.length.tolist(), found.hash.tolist(),
                             found.kind.tolist(), strict=True):
        got[d].append((a, n, h, k))
    for text, g in zip(texts, got, strict=True):
        if g != mentions(text, skip):
            raise AssertionError(f"kernel != reference on {text!r}")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    suffix = SUFFIXES[fdp.ConsumeIntInRange(0, len(SUFFIXES) - 1)]
    txt_lines = fdp.ConsumeBool()
    skip = fdp.ConsumeBool()
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
    check_names([*texts[:4], text], skip)


if __name__ == "__main__":
    # compile the kernels before instrumenting, for every argument type they meet: a batch of empty texts packs
    # into a writable buffer, any other batch into a read-only one (numba compiles each once)
    for warm in (['warm up: "Infinity on High" by the Treaty of Paris in 1999, é'], [""]):
        for skip in (True, False):
            check_names(warm, skip)
    instrument_cooc()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
