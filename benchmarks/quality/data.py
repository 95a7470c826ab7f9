"""Evaluation inputs: HaluEval rows, a real gazetteer, and the knowledge-gap corpus.

All derived from the files given on the command line, written under the output folder,
and deterministic for a seed, so a rerun reuses them.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from cooc.indexer.normalize import normalize_key
from cooc.indexer.read import file_format, open_binary, resolve_inputs


@dataclass(frozen=True)
class Row:
    """One scored (question, answer) pair; label 1 = the hallucinated answer."""

    id: str
    qid: str  # the HaluEval row: both answers of a question share it (bootstrap and CV groups)
    question: str
    answer: str
    right_answer: str
    label: int
    knowledge_doc: str


def load_eval(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                r["id"], r["question"], r["right_answer"], r["hallucinated_answer"]  # noqa: B018
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise SystemExit(f"{path}:{lineno}: not a HaluEval QA row ({e}); expected id, question, "
                                 "right_answer, hallucinated_answer") from None
            rows.append(r)
            if limit is not None and len(rows) >= limit:
                break
    return rows


def labelled(rows: list[dict]) -> list[Row]:
    """Each HaluEval row twice: the right answer (0) and the hallucinated one (1)."""
    out = []
    for r in rows:
        for suffix, answer, label in (("right", r["right_answer"], 0), ("halluc", r["hallucinated_answer"], 1)):
            out.append(Row(f"{r['id']}-{suffix}", r["id"], r["question"], answer, r["right_answer"], label,
                           r.get("knowledge_doc", "")))
    return out


_LEAD_SUBJECT = re.compile(r"^(.{2,60}?)(?: \(| is | was | are | were |, )")


def write_gazetteer(wiki: Path, out: Path, aliases: bool = True) -> Path:
    """A gazetteer from Wikipedia article titles (the vital-articles leads of the corpus).

    A title that its own lead also uses in lowercase ("food") is a common noun and is left
    out. Aliases: the title without its parenthetical ("Mercury (planet)" -> "Mercury") and the
    lead's own subject when it names the article differently ("Sir Arthur John Gielgud").
    """
    rows = []
    with open_binary(wiki, file_format(wiki)[1]) as f:
        for line in f:
            r = json.loads(line)
            title, text = r.get("title") or "", r.get("text") or ""
            base = re.sub(r"\s*\(.*\)$", "", title).strip()
            if not base or not base[0].isupper() or re.search(rf"\b{re.escape(base.lower())}\b", text):
                continue
            names = {normalize_key(title): title}
            if aliases:
                names.setdefault(normalize_key(base), base)
                m = _LEAD_SUBJECT.match(text)
                if m and m.group(1)[0].isupper() and len(m.group(1).split()) <= 6:
                    names.setdefault(normalize_key(m.group(1)), m.group(1))
            alias_list = [n for k, n in names.items() if k and n != title]
            rows.append(f"{title}\t{'|'.join(alias_list)}\tENTITY\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("name\taliases\tlabel\n" + "".join(rows), encoding="utf-8")
    return out


def gap_split(rows: list[dict], seed: int = 0) -> set[str]:
    """A random half of the questions whose knowledge paragraphs the gap corpus leaves out."""
    ids = sorted(r["id"] for r in rows)
    return set(random.Random(seed).sample(ids, len(ids) // 2))


def write_gap_corpus(corpus: list[str], rows: list[dict], gap: set[str], out: Path) -> tuple[list[str], int]:
    """Copy the corpus without the knowledge documents of the `gap` questions; (files, removed)."""
    drop = {r["knowledge_doc"] for r in rows if r["id"] in gap and r.get("knowledge_doc")}
    out.mkdir(parents=True, exist_ok=True)
    files, removed = [], 0
    for path in resolve_inputs(corpus):
        target = out / (path.name.split(".")[0] + ".jsonl.gz")
        tmp = target.with_suffix(".tmp")
        with open_binary(path, file_format(path)[1]) as src, gzip.open(tmp, "wb") as dst:
            for line in src:
                if line.strip() and json.loads(line).get("id") in drop:
                    removed += 1
                    continue
                dst.write(line)
        tmp.replace(target)
        files.append(str(target))
    return files, removed
