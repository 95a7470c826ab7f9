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
from dataclasses import dataclass
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


def _parse_line(path: Path, lineno: int, line: str, is_jsonl: bool) -> GazetteerEntry | None:
    if is_jsonl:
        try:
            r = json.loads(line)
            if "cooc_vocab" in r:
                return None  # the header line of an older vocabulary file
            name, aliases, label = r["name"], r.get("aliases") or [], r.get("label") or "ENTITY"
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ReadError(f"{path}:{lineno}: expected a JSON object with 'name' (and optional 'aliases', "
                            "'label')") from None
        if isinstance(aliases, str):
            aliases = [aliases]
    else:
        cells = line.split("\t")
        if lineno == 1 and cells[0].strip().lower() == "name":
            return None
        name = cells[0]
        aliases = cells[1].split("|") if len(cells) > 1 else []
        label = cells[2].strip() if len(cells) > 2 and cells[2].strip() else "ENTITY"
    if not isinstance(name, str) or not name.strip():
        raise ReadError(f"{path}:{lineno}: empty entity name")
    return GazetteerEntry(name.strip(), tuple(str(a).strip() for a in aliases if str(a).strip()), str(label))


def read_gazetteer(path: Path) -> list[GazetteerEntry]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ReadError(f"{path}: no such gazetteer file") from None
    except UnicodeDecodeError:
        raise ReadError(f"{path}: gazetteer is not UTF-8 text") from None
    is_jsonl = str(path).lower().endswith((".jsonl", ".json"))
    entries = []
    for lineno, line in enumerate(lines, start=1):
        if line.strip() and not line.startswith("#"):
            entry = _parse_line(Path(path), lineno, line, is_jsonl)
            if entry is not None:
                entries.append(entry)
    return entries


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


def load_gazetteer(path: Path | None) -> LoadedGazetteer | None:
    if path is None:
        return None
    entries = read_gazetteer(Path(path))
    pairs: list[tuple[str, str]] = []
    labels: dict[int, tuple[str, str]] = {}
    aliases: dict[int, int] = {}
    claimed: dict[int, int] = {}  # any name hash -> the canonical hash that owns it (first entry wins)
    for e in entries:
        canon = name_hashes(e.name)[0]
        if not canon or canon in claimed:
            continue
        claimed[canon] = canon
        labels[canon] = (e.name, e.label)
        pairs.append((e.name, e.name))
        for alias in e.aliases:
            h = name_hashes(alias)[0]
            if h and h not in claimed:
                claimed[h] = canon
                aliases[h] = canon
                pairs.append((alias, e.name))
    digest = hashlib.sha256(json.dumps(sorted((str(k), str(v)) for k, v in claimed.items())).encode())
    return LoadedGazetteer(Gazetteer(pairs), labels, aliases, digest.hexdigest()[:16], str(path))


def alias_arrays(g: LoadedGazetteer | None) -> tuple[np.ndarray, np.ndarray]:
    """(sorted alias hashes, their canonical hashes)."""
    if g is None or not g.aliases:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    keys = np.array(sorted(g.aliases), dtype=np.uint64)
    return keys, np.array([g.aliases[int(k)] for k in keys], dtype=np.uint64)
