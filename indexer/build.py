"""`cooc build`: read -> find names and count (one part per file) -> merge -> store, in one pass.

No vocabulary step: every shard finds its names itself (`names.py`) and keys them by hash.

Files are counted as tasks on a runner (local processes or Ray, `runner.py`), each writing
its shard's part; finished parts survive a crash and are skipped by a rerun. `rank`/`world_size`
take files[rank::world_size] of the sorted input list, so any scheduler can split
the work; with world_size > 1 the build stops after its parts and `cooc merge`
sums them.
"""

from __future__ import annotations

import time
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .alloc import give_back_freed_memory
from .atomic import atomic_path
from .count import WINDOW_DOC
from .dedup import plan_dedup
from .errors import CoocError
from .gazetteer import LoadedGazetteer, alias_arrays, load_gazetteer
from .layout import PARTS_DIR
from .lock import DirectoryLock
from .merge import ALIASES_FILE, MergeOptions, MergeResult, format_merge, merge_parts
from .parts import (
    CountOptions,
    PartSettings,
    count_shard_with,
    is_done,
    load_done,
    part_name,
    warm_kernels,
)
from .read import ReadOptions, find_inputs
from .runner import LocalRunner, Runner, Task, TaskFailure
from .store import check_output


def parse_window(value: str | int) -> int:
    """'doc' (whole document) -> WINDOW_DOC, else a non-negative token count."""
    if isinstance(value, str) and value.strip().lower() == "doc":
        return WINDOW_DOC
    try:
        window = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a number of tokens or 'doc', got {value!r}") from None
    if window < 0:
        raise ValueError(f"window must be >= 0 tokens or 'doc', got {window}")
    return window


@dataclass
class BuildConfig:
    inputs: list[str]
    output: Path
    _: KW_ONLY  # the rest by name: BuildConfig(inputs, output, window=25)
    read: ReadOptions = field(default_factory=ReadOptions)
    gazetteer: Path | None = None  # names to find in any case, with aliases, besides the rule's
    vocab_file: Path | None = None  # count exactly this list (a gazetteer) and nothing else
    inner: bool = True  # a name also counts the names inside it ("Paris" of "Treaty of Paris")
    window: int = 1000  # tokens between mention starts; WINDOW_DOC = whole document
    runner: Runner = field(default_factory=lambda: LocalRunner(workers=1))  # where shards (and merge buckets) run
    rank: int = 0
    world_size: int = 1
    dedup: str | None = None  # None, "exact" or "near"
    dedup_threshold: float = 0.8
    memory_mb: float = 1024  # per worker: its tables spill to a new run past this
    merge: MergeOptions = field(default_factory=MergeOptions)
    force: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.gazetteer is not None and self.vocab_file is not None:
            raise CoocError("give either --gazetteer (names besides the rule's) or --vocab (only a fixed list), not both")
        if self.memory_mb < 16:
            raise CoocError(f"--memory-mb must be at least 16, got {self.memory_mb}")
        if not 0 <= self.rank < self.world_size:
            raise CoocError(f"--rank must be in [0, {self.world_size}), got {self.rank}")

    @property
    def names_file(self) -> Path | None:
        return self.vocab_file or self.gazetteer


@dataclass
class BuildResult:
    output: Path
    shards: int  # files this build was responsible for
    shards_counted: int  # of which counted now (the rest were finished parts)
    count_seconds: float
    seconds: float
    merged: MergeResult | None  # None when world_size > 1 (run `cooc merge`)
    failed: list[TaskFailure] = field(default_factory=list)  # Ray: shards (by path) that kept failing
    notes: list[str] = field(default_factory=list)  # inputs counted once, skipped unreadable or inside the output


#: Bytes of input files (as stored, compressed or not) that make a forked counting worker worth it: ~0.5 s of
#: counting and indexing. A smaller share costs more in its fork and its own tables, pair queue and evidence
#: writer (~150 MiB private, measured) than counting it in parallel saves.
MIN_BYTES_PER_WORKER = 1 << 20


def shard_runner(runner: Runner, input_bytes: int, shards: int) -> Runner:
    """The runner for counting: a local one gets at most one worker per MIN_BYTES_PER_WORKER of input (and per
    shard); one process counts in this process, with no fork at all."""
    if not isinstance(runner, LocalRunner):
        return runner
    return LocalRunner(workers=max(1, min(runner.workers, shards, input_bytes // MIN_BYTES_PER_WORKER)))


def _run_shards(todo: list[Path], parts_dir: Path, opts: CountOptions, cfg: BuildConfig,
                drop: dict[str, set[int]]) -> list[TaskFailure]:
    sizes = {p: p.stat().st_size for p in todo}
    tasks = [Task(str(p), count_shard_with, (p, parts_dir, opts, drop.get(str(p))), sizes[p]) for p in todo]
    runner = shard_runner(cfg.runner, sum(sizes.values()), len(todo))
    bar = tqdm(total=sum(sizes.values()), unit="B", unit_scale=True, desc="counting",
               disable=not cfg.progress or not todo, dynamic_ncols=True)
    seen = {"shards": 0, "docs": 0}
    if todo and runner.kind == "local":
        warm_kernels(forks=runner.processes > 1 and len(tasks) > 1)  # once here: forked workers share them

    def done(task: Task, result: dict) -> None:
        seen["shards"] += 1
        seen["docs"] += result["documents"]
        bar.update(task.weight)
        bar.set_postfix(shards=f"{seen['shards']}/{len(todo)}", docs=f"{seen['docs']:,}")

    try:
        return runner.run(tasks, done)
    finally:
        bar.close()


def build_index(cfg: BuildConfig) -> BuildResult:
    """Build (or resume) an index directory from corpus files; one writer per directory at a time."""
    output = Path(cfg.output)
    give_back_freed_memory()
    check_output(output, cfg.force)  # before the lock: never leave a lock file in a directory we refuse
    with DirectoryLock(output, shared=cfg.world_size > 1):
        return _build_locked(cfg, output)


def part_settings(cfg: BuildConfig, fingerprint: str | None = None) -> PartSettings:
    """The settings every part of this build is counted with (fingerprint: of its gazetteer, if any)."""
    r = cfg.read
    return PartSettings(window=int(cfg.window), rules=cfg.vocab_file is None, inner=cfg.inner, gazetteer=fingerprint,
                        text_field=r.text_field, id_field=r.id_field, txt_lines=r.txt_lines, dedup=cfg.dedup,
                        max_doc_bytes=r.max_doc_bytes)


def _write_aliases(parts_dir: Path, gazetteer: LoadedGazetteer) -> None:
    alias, canon = alias_arrays(gazetteer)
    with atomic_path(parts_dir / ALIASES_FILE) as tmp:
        pq.write_table(pa.table({"alias_hash": pa.array(alias, pa.uint64()),
                                 "canonical_hash": pa.array(canon, pa.uint64())}), tmp)


def _clear_stale_parts(parts_dir: Path, settings: PartSettings, force: bool) -> None:
    """Parts counted with other settings: a forced rebuild discards them; otherwise refuse before any work."""
    try:
        stale = [d for d in load_done(parts_dir) if d.get("settings_key") != settings.key()] if parts_dir.is_dir() else []
    except CoocError:
        stale = [None]  # parts of another cooc
    if stale and force:
        for f in parts_dir.iterdir():
            if f.is_file():
                f.unlink()
    elif stale:
        raise CoocError(f"{parts_dir}: holds parts counted with other settings; use a new --output or pass --force "
                        "to discard them")


def _build_locked(cfg: BuildConfig, output: Path) -> BuildResult:
    t0 = time.perf_counter()
    check_output(output, cfg.force)
    inputs = find_inputs(cfg.inputs, cfg.read.skip_unreadable, exclude=output)
    files = inputs.files
    mine = files[cfg.rank :: cfg.world_size]
    gazetteer = load_gazetteer(cfg.names_file)
    parts_dir = output / PARTS_DIR
    settings = part_settings(cfg, gazetteer.fingerprint if gazetteer else None)
    _clear_stale_parts(parts_dir, settings, cfg.force)
    parts_dir.mkdir(parents=True, exist_ok=True)
    if gazetteer is not None:
        _write_aliases(parts_dir, gazetteer)
    opts = CountOptions(settings=settings, read=cfg.read, memory_mb=cfg.memory_mb, evidence=cfg.merge.evidence,
                        gazetteer_path=str(Path(cfg.names_file).resolve()) if cfg.names_file else None)
    todo = [p for p in mine if not is_done(parts_dir, p, settings, cfg.merge.evidence)]
    drop = plan_dedup(files, cfg.read, cfg.dedup, cfg.dedup_threshold, progress=cfg.progress).drop \
        if cfg.dedup and todo else {}
    failed = _run_shards(todo, parts_dir, opts, cfg, drop)
    t_count = time.perf_counter() - t0
    merged = None
    if cfg.world_size == 1:
        by_part = {d["part"]: d for d in load_done(parts_dir)}
        failed_files = {f.name for f in failed}
        parts = [(parts_dir, by_part[part_name(p)]) for p in sorted(files, key=part_name) if str(p) not in failed_files]
        if parts:
            extra = {"workers": cfg.runner.processes, "executor": cfg.runner.kind,
                     "failed_shards": [f.name for f in failed], "memory_mb": cfg.memory_mb}
            merged = merge_parts(parts, output, cfg.merge, extra_config=extra, runner=cfg.runner,
                                 progress=cfg.progress)
    notes = inputs.notes() + [f"warning: {w}" for w in (gazetteer.warnings if gazetteer else [])]
    return BuildResult(output, len(mine), len(todo), t_count, time.perf_counter() - t0, merged, failed, notes)


def format_build(r: BuildResult) -> str:
    return "\n".join([*r.notes, _format_counts(r)])


def _format_counts(r: BuildResult) -> str:
    head = f"counted {r.shards_counted} of {r.shards} shards ({r.shards - r.shards_counted} already done) in " \
           f"{r.count_seconds:.1f}s"
    if r.failed:
        head += f"; {len(r.failed)} shard(s) FAILED: " + "; ".join(f"{f.name}: {f.error}" for f in r.failed)
    if r.merged is None and r.failed and r.shards == len(r.failed):
        return head
    if r.merged is None:
        return head + f"; parts are in {r.output}/parts: run `cooc merge` when every rank has finished"
    return f"{head}; merged in {r.merged.seconds:.1f}s, total {r.seconds:.1f}s\n{format_merge(r.merged)}"
