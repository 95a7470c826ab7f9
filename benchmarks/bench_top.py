"""`Index.top` (two binary searches and one vectorized scan of the memory-mapped pair keys) against
the same question asked of the index's DuckDB copy, on the same names in the same run.

    python -m benchmarks.bench_top --index IDX [--names 200] [-k 20]

Names: the most-written names of the index first (the ones with the most pairs, the slow case),
then every 10th of the rest up to --names. Printed: median and p99 per call, the ratio of medians, and a check that
both give the same document counts in the same order (ties are ordered differently).
"""

from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np

from cooc.indexer.layout import DUCKDB_FILE
from cooc.scorer import Index

from .bench_build import table

QUERY = """SELECT CASE WHEN a = $id THEN b ELSE a END AS other, docs FROM pairs WHERE a = $id OR b = $id
           ORDER BY docs DESC, other LIMIT $k"""


def _names(index: Index, n: int) -> list[int]:
    by_docs = np.argsort(-np.asarray(index._docs), kind="stable")
    return [int(i) for i in by_docs[: n // 2]] + [int(i) for i in by_docs[n // 2 :: 10][: n - n // 2]]


def _timed(fn, reps: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--names", type=int, default=200)
    ap.add_argument("-k", type=int, default=20)
    args = ap.parse_args()
    index = Index.open(args.index)
    con = duckdb.connect(str(index.data / DUCKDB_FILE), read_only=True)
    fast, slow, cold, same = [], [], [], 0
    ids = _names(index, args.names)

    def fresh(eid: int) -> list:
        c = duckdb.connect(str(index.data / DUCKDB_FILE), read_only=True)
        try:
            return c.execute(QUERY, {"id": eid, "k": args.k}).fetchall()
        finally:
            c.close()

    for eid in ids:
        t1, mine = _timed(lambda eid=eid: index.top(eid, args.k, "docs"))
        t2, ref = _timed(lambda eid=eid: con.execute(QUERY, {"id": eid, "k": args.k}).fetchall())
        t3, _ = _timed(lambda eid=eid: fresh(eid), reps=1)
        fast.append(t1)
        slow.append(t2)
        cold.append(t3)
        same += [n.docs for n in mine] == [int(d) for _, d in ref]  # ties are ordered differently (NPMI, id)
    ms = lambda xs, q: f"{np.percentile(np.array(xs) * 1e3, q):.2f}"  # noqa: E731
    print(f"{index.n_names:,} names, {index._pair_keys.size:,} pairs; {len(ids)} names queried, k = {args.k}; "
          f"best of 3 per name, then median and p99 over names\n")
    print(table(["method", "median ms", "p99 ms"], [["Index.top (sorted key arrays)", ms(fast, 50), ms(fast, 99)],
                                                   ["DuckDB query, open connection", ms(slow, 50), ms(slow, 99)],
                                                   ["DuckDB query, new connection (one command)", ms(cold, 50),
                                                    ms(cold, 99)]]))
    print(f"\nratio of medians: {np.median(slow) / np.median(fast):,.1f}x (open connection), "
          f"{np.median(cold) / np.median(fast):,.1f}x (new connection); the same document counts for {same} of "
          f"{len(ids)} names")


if __name__ == "__main__":
    main()
