"""HaluEval QA rows as labelled (question, answer) pairs: each row twice, right (0) and hallucinated (1).

    python -m benchmarks.halueval ../shared/data/eval/halueval_qa_dev.jsonl -o rows.jsonl

The output is what `cooc score-batch` and `cooc calibrate` read (fields id, question, answer, label).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def expand(path: Path) -> list[dict]:
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        rows.append({"id": f"{r['id']}-right", "question": r["question"], "answer": r["right_answer"], "label": 0})
        rows.append({"id": f"{r['id']}-halluc", "question": r["question"], "answer": r["hallucinated_answer"],
                     "label": 1})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("eval", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    a = ap.parse_args()
    rows = expand(a.eval)
    a.output.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows to {a.output}")


if __name__ == "__main__":
    main()
