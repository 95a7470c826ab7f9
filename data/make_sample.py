"""Recreate data/sample/ from the full corpora (run from the repository root).

    python data/make_sample.py ../shared/data/corpus

Cuts: the first 1,500 Wikipedia vital-article leads (.jsonl.gz), the first 2,500 HotpotQA
knowledge paragraphs (.parquet) and the four most recent State of the Union addresses (.txt,
one document per file): three sources in three formats, about 2 MB of text.
"""

import gzip
import json
import sys
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def main(corpus: Path, out: Path = Path("data/sample")) -> None:
    (out / "sotu").mkdir(parents=True, exist_ok=True)
    with gzip.open(corpus / "wikipedia_vital_leads.jsonl.gz", "rt", encoding="utf-8") as src, \
            gzip.GzipFile(out / "wikipedia_vital_leads.jsonl.gz", "wb", mtime=0) as dst:
        for line in islice(src, 1500):
            r = json.loads(line)
            dst.write((json.dumps({"id": r["id"], "title": r["title"], "text": r["text"]}) + "\n").encode())
    with gzip.open(corpus / "hotpotqa_knowledge.jsonl.gz", "rt", encoding="utf-8") as src:
        rows = [json.loads(line) for line in islice(src, 2500)]
    pq.write_table(pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]}),
                   out / "hotpotqa_knowledge.parquet", compression="zstd")
    with gzip.open(corpus / "state_of_the_union.jsonl.gz", "rt", encoding="utf-8") as src:
        speeches = [json.loads(line) for line in src][-4:]
    for r in speeches:
        (out / "sotu" / f"{r['id']}.txt").write_text(r["text"] + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
