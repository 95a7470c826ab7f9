"""What several test modules need: the CLI in this process or as a real subprocess, and "these two indexes hold
the same counts"."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cooc.indexer.names import name_hash
from cooc.scorer import Index

# every array an index's counts live in (the sketch exists only when the exact pair table is pruned)
COUNT_FILES = ("names.hash.npy", "names.check.npy", "names.docs.npy", "names.mentions.npy", "names.lower.npy",
               "names.flags.npy", "names.label.npy", "pairs.keys.npy", "pairs.docs.npy", "aliases.hash.npy",
               "aliases.id.npy")
INDEX_FILES = (*COUNT_FILES, "sketch.npy")


def cooc_argv(*args) -> list[str]:
    return [sys.executable, "-m", "cooc.cli.main", *map(str, args)]


def run_cooc(*args, preexec_fn: Callable[[], None] | None = None, **kw) -> subprocess.CompletedProcess:
    """`cooc ARGS` in a fresh interpreter, as a user runs it (text output captured)."""
    return subprocess.run(cooc_argv(*args), capture_output=True, text=True, preexec_fn=preexec_fn, **kw)


def invoke_cooc(*args, input: str | None = None) -> subprocess.CompletedProcess:
    """`cooc ARGS` in this process (click's CliRunner), for tests of what a command prints and exits with:
    the same stdout, stderr and status as a subprocess, without a fresh interpreter's imports (~2 s each).
    An exception escaping the CLI, which a user would see as a traceback, is raised here (the test fails)."""
    from click.testing import CliRunner

    from cooc.cli.main import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="cooc")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def same_index(a: Path, b: Path, files: tuple[str, ...] = INDEX_FILES) -> None:
    """The two indexes hold the same arrays, the same corpus totals and readable names for every hash."""
    for f in files:
        assert (a / f).exists() == (b / f).exists(), f
        if (a / f).exists():
            assert np.array_equal(np.load(a / f), np.load(b / f)), f
    for d in (a, b):
        idx = Index.open(d)
        hashes = np.load(d / "names.hash.npy").tolist()
        assert [name_hash(idx.name_of(i)) for i in range(idx.n_names)] == hashes  # a surface form of that name
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    for key in ("documents", "tokens", "bytes"):
        assert ma["corpus"][key] == mb["corpus"][key]
    assert ma["counts"] == mb["counts"] and ma.get("sketch") == mb.get("sketch")


def build_in_fresh_process(src: Path, out: Path, prelude: str, report: str) -> str:
    """A default build of `src` into `out` in a fresh interpreter (its process-wide state untouched by other
    tests): runs the statements `prelude` first, then prints the expression `report`; returns what it printed."""
    code = (f"import sys; from pathlib import Path; from cooc.indexer.build import BuildConfig, build_index; {prelude}; "
            f"build_index(BuildConfig([sys.argv[1]], Path(sys.argv[2]), progress=False)); print({report})")
    done = subprocess.run([sys.executable, "-c", code, str(src), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout
