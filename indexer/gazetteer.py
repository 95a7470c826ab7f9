"""Gazetteers: names a user wants found wherever the text writes them, in any case, with aliases.

A gazetteer is TSV (`name`, aliases separated by `|`, `label`; optional header, `#` comments)
or JSONL (`{"name", "aliases", "label"}`; `cooc vocab` writes this form). Its entries are
matched case-insensitively by the name kernel, each alias counting for its canonical name, and
a name the rule finds that is an entry or an alias also counts for the canonical name.
With `--vocab FILE` (no rule) the build counts exactly these names and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import ReadError
from .names import Gazetteer, name_hashes


@dataclass(frozen=True)
class GazetteerEntry:
    name: str
    aliases: tuple[str, ...]
    label: str
    line: int = field(default=0, compare=False)  # where the file writes it (for messages)


def _json_entry(path: Path, lineno: int, line: str) -> GazetteerEntry | None:
    try:
        r = json.loads(line)
    except json.JSONDecodeError:
        r = None
    if not isinstance(r, dict) or ("name" not in r and "cooc_vocab" not in r):
        raise ReadError(f"{path}:{lineno}: expected a JSON object with 'name' (and optional 'aliases', 'label')")
    if "cooc_vocab" in r:
        return None  # the header line of an older vocabulary file
    name, aliases, label = r["name"], r.get("aliases") or [], r.get("label") or "ENTITY"
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ReadError(f"{path}:{lineno}: 'aliases' must be a list of names (text), got {json.dumps(r.get('aliases'))}")
    if not isinstance(label, str):
        raise ReadError(f"{path}:{lineno}: 'label' must be text, got {json.dumps(label)}")
    if not isinstance(name, str):
        raise ReadError(f"{path}:{lineno}: 'name' must be text, got {json.dumps(name)}")
    return _entry(path, lineno, name, aliases, label)


def _entry(path: Path, lineno: int, name: str, aliases: list[str], label: str) -> GazetteerEntry:
    if not name.strip():
        raise ReadError(f"{path}:{lineno}: empty entity name")
    return GazetteerEntry(name.strip(), tuple(a.strip() for a in aliases if a.strip()), label, lineno)


def _tsv_entry(lineno: int, line: str, path: Path) -> GazetteerEntry | None:
    cells = line.split("\t")
    if lineno == 1 and cells[0].strip().lower() == "name":
        return None
    aliases = cells[1].split("|") if len(cells) > 1 else []
    label = cells[2].strip() if len(cells) > 2 and cells[2].strip() else "ENTITY"
    return _entry(path, lineno, cells[0], aliases, label)


def _check_not_csv(path: Path, rows: list[tuple[int, str]]) -> None:
    """A comma-separated file named .tsv would give one entity per line named 'France,,GPE'."""
    if any("\t" in line for _, line in rows):
        return
    for lineno, line in rows:
        if line.count(",") >= 2:
            raise ReadError(f"{path}:{lineno}: no tab in the file but commas in {line[:60]!r}: is it CSV? A gazetteer "
                            "is TSV (name<TAB>alias|alias<TAB>label) or JSONL ({\"name\", \"aliases\", \"label\"})")


def read_gazetteer(path: Path) -> list[GazetteerEntry]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ReadError(f"{path}: no such gazetteer file") from None
    except UnicodeDecodeError:
        raise ReadError(f"{path}: gazetteer is not UTF-8 text") from None
    path = Path(path)
    rows = [(n, line) for n, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")]
    is_jsonl = str(path).lower().endswith((".jsonl", ".json"))
    if not is_jsonl:
        _check_not_csv(path, rows)
    entries = [_json_entry(path, n, line) if is_jsonl else _tsv_entry(n, line, path) for n, line in rows]
    return [e for e in entries if e is not None]


def write_gazetteer(path: Path, entries: list[GazetteerEntry]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for e in entries:
            fh.write(json.dumps({"name": e.name, "aliases": list(e.aliases), "label": e.label}, ensure_ascii=False) + "\n")


@dataclass
class LoadedGazetteer:
    """A gazetteer ready for the kernel, with what the index records of it."""

    matcher: Gazetteer
    labels: dict[int, tuple[str, str]]  # canonical name hash -> (canonical name, label)
    aliases: dict[int, int]  # alias hash -> canonical name hash
    fingerprint: str
    path: str
    warnings: list[str] = field(default_factory=list)  # entries or aliases dropped, one line each


def load_gazetteer(path: Path | None) -> LoadedGazetteer | None:
    if path is None:
        return None
    entries = read_gazetteer(Path(path))
    pairs: list[tuple[str, str]] = []
    labels: dict[int, tuple[str, str]] = {}
    aliases: dict[int, int] = {}
    claimed: dict[int, int] = {}  # any name hash -> the canonical hash that owns it (first entry wins)
    warnings: list[str] = []
    for e in entries:
        canon = name_hashes(e.name)[0]
        if not canon:
            continue
        if canon in claimed:
            owner = labels[claimed[canon]][0]
            what = "a repeat of" if claimed[canon] == canon else "already an alias of"
            warnings.append(f"{path}:{e.line}: '{e.name}' is {what} '{owner}'; this entry is ignored "
                            "(an alias cycle or a duplicate: keep one entry per name)")
            continue
        claimed[canon] = canon
        labels[canon] = (e.name, e.label)
        pairs.append((e.name, e.name))
        for alias in e.aliases:
            h = name_hashes(alias)[0]
            if h and h in claimed and claimed[h] != canon:
                warnings.append(f"{path}:{e.line}: '{e.name}': alias '{alias}' already names "
                                f"'{labels[claimed[h]][0]}'; kept for that one")
            elif h and h not in claimed:
                claimed[h] = canon
                aliases[h] = canon
                pairs.append((alias, e.name))
    digest = hashlib.sha256(json.dumps(sorted((str(k), str(v)) for k, v in claimed.items())).encode())
    return LoadedGazetteer(Gazetteer(pairs), labels, aliases, digest.hexdigest()[:16], str(path), warnings)


def alias_arrays(g: LoadedGazetteer | None) -> tuple[np.ndarray, np.ndarray]:
    """(sorted alias hashes, their canonical hashes)."""
    if g is None or not g.aliases:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    keys = np.array(sorted(g.aliases), dtype=np.uint64)
    return keys, np.array([g.aliases[int(k)] for k in keys], dtype=np.uint64)
