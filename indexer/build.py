"""`cooc build`: read -> vocabulary -> match -> count -> store, in one process."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tqdm import tqdm

from .count import WINDOW_DOC, Counter
from .match import Matcher
from .normalize import NORMALIZATION_VERSION
from .read import ReadOptions, ReadStats, read_file, resolve_inputs
from .store import FORMAT, FORMAT_VERSION, Counts, check_output, publish, temp_dir_for, write_index
from .vocab import VocabConfig, Vocabulary, build_vocabulary


def cooc_version() -> str:
    try:
        return version("cooc")
    except PackageNotFoundError:
        return "unknown"


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
    read: ReadOptions = field(default_factory=ReadOptions)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    vocab_file: Path | None = None  # count with exactly this vocabulary, no discovery
    window: int = 1000  # tokens between mention starts; WINDOW_DOC = whole document
    force: bool = False
    progress: bool = True


@dataclass
class BuildResult:
    output: Path
    documents: int
    tokens: int
    bytes: int
    skipped: dict
    entities: int
    entities_seen: int
    pairs: int
    seconds: float
    vocab_seconds: float


def get_vocabulary(files: list[Path], cfg: BuildConfig) -> Vocabulary:
    if cfg.vocab_file is not None:
        return Vocabulary.load(Path(cfg.vocab_file))
    return build_vocabulary(files, cfg.read, cfg.vocab)


def build_index(cfg: BuildConfig) -> BuildResult:
    """Build an index directory from corpus files; the output appears only when complete."""
    t0 = time.perf_counter()
    output = Path(cfg.output)
    check_output(output, cfg.force)
    files = resolve_inputs(cfg.inputs)
    vocab = get_vocabulary(files, cfg)
    t_vocab = time.perf_counter() - t0
    matcher = Matcher(vocab.entries())
    counter = Counter(len(vocab.entities), cfg.window)
    stats = ReadStats()
    inputs = []
    bar = tqdm(total=len(files), unit="file", disable=not cfg.progress, desc="counting", dynamic_ncols=True)
    try:
        for path in files:
            fstats = ReadStats()
            for batch in read_file(path, cfg.read, fstats):
                counter.add(matcher.match_batch(batch.texts))
                bar.set_postfix(docs=stats.documents + fstats.documents, MB=f"{(stats.bytes + fstats.bytes) / 1e6:.1f}")
            stats.add(fstats)
            inputs.append(
                {"path": str(path), "size": path.stat().st_size, "documents": fstats.documents,
                 "bytes": fstats.bytes, "skipped": dict(fstats.skipped)}
            )
            bar.update(1)
    finally:
        bar.close()
    pair_keys, pair_docs = counter.pairs()
    counts = Counts(counter.entity_docs, counter.entity_mentions, pair_keys, pair_docs)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cooc_version": cooc_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": {
            "documents": stats.documents,
            "tokens": counter.tokens,
            "bytes": stats.bytes,
            "skipped": dict(stats.skipped),
            "skipped_total": stats.skipped_total,
        },
        "inputs": inputs,
        "config": {
            "window": "doc" if cfg.window == WINDOW_DOC else cfg.window,
            "normalization_version": NORMALIZATION_VERSION,
            "read": asdict(cfg.read),
            "vocabulary": {
                **vocab.source,
                "file": str(cfg.vocab_file) if cfg.vocab_file else None,
                "entities": len(vocab.entities),
                "aliases": vocab.n_aliases,
                "fingerprint": vocab.fingerprint(),
                "matcher": asdict(matcher.stats),
            },
        },
        "counts": {
            "entities": len(vocab.entities),
            "entities_seen": int((counter.entity_docs > 0).sum()),
            "pairs": int(pair_keys.size),
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_for(output)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_index(tmp, vocab, counts, manifest)
        publish(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(
        output=output,
        documents=stats.documents,
        tokens=counter.tokens,
        bytes=stats.bytes,
        skipped=dict(stats.skipped),
        entities=len(vocab.entities),
        entities_seen=manifest["counts"]["entities_seen"],
        pairs=int(pair_keys.size),
        seconds=time.perf_counter() - t0,
        vocab_seconds=t_vocab,
    )


def default_processes() -> int:
    return max(1, min(2, os.cpu_count() or 1))
